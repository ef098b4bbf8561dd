package dev.distillery.eval;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.corpus.Corpus;
import dev.distillery.corpus.CorpusReader;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.model.CausalModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.spark.Device;
import dev.distillery.storage.Location;
import dev.distillery.teacher.TeacherCache;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Progress;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code evaluate}: decodes held-out sources with a model and scores the detokenized outputs with
 * corpus BLEU and chrF (sacreBLEU conventions), next to the trivial baseline of copying the source.
 * The model is a Distillery model directory or an ONNX export ({@code export}'s, or a Hugging Face
 * model's). Decoding runs on the driver, batched.
 */
public final class EvaluatePipeline {
  private EvaluatePipeline() {}

  /**
   * Scores of one system on one corpus.
   *
   * @param lengthRatio the system's output characters over the references' (1 = as long; an empty or
   *     truncated system shows here first, a system that never stops above 1)
   */
  public record Scores(double bleu, double chrf, double lengthRatio) {
    static Scores of(List<String> hypotheses, List<String> references) {
      return new Scores(Bleu.corpus(hypotheses, references).score(), Chrf.corpus(hypotheses, references),
          hypotheses.stream().mapToInt(String::length).sum()
              / (double) Math.max(1, references.stream().mapToInt(String::length).sum()));
    }
  }

  public record Result(Scores model, Scores copySource, double referenceCrossEntropy, int examples,
      List<Map<String, Object>> samples) {}

  public static Result run(SparkSession spark, DistilleryConfig config, Path modelDir, String input,
      Path report, Progress progress) throws IOException {
    return run(spark, config, Location.of(modelDir), input, report == null ? null : Location.of(report), progress);
  }

  /** Scores the model in {@code modelDir} on {@code input}; both, and the report, on any file system. */
  public static Result run(SparkSession spark, DistilleryConfig config, Location modelDir, String input,
      Location report, Progress progress) throws IOException {
    CausalModel model = TeacherCache.open(modelDir, Device.CPU, config.model().maxTokens());
    try {
      return score(spark, config, model, modelDir, input, report, progress);
    } finally {
      if (model instanceof AutoCloseable closeable) {
        try {
          closeable.close();
        } catch (Exception e) {
          progress.line("Cannot close the model (%s): %s", e.getMessage(), modelDir);
        }
      }
    }
  }

  private static Result score(SparkSession spark, DistilleryConfig config, CausalModel model, Location modelDir,
      String input, Location report, Progress progress) throws IOException {
    Corpus corpus = CorpusReader.read(spark, input, config.corpus());
    progress.line("corpus %s: %s", input, corpus.summary());
    corpus.requireUsable(config.corpus().maxRejectFraction());
    List<Row> rows = corpus.accepted().orderBy("file", "offset").collectAsList();
    TextTokenizer tok = model.tokenizer();
    List<TokenizedExample> examples = new ArrayList<>(rows.size());
    List<String> sources = new ArrayList<>(), references = new ArrayList<>();
    for (Row r : rows) {
      String source = r.getAs("source");
      String target = r.getAs("target");
      int[] src = source == null ? new int[0] : tok.encode(source);
      int[] tgt = tok.encode(target);
      examples.add(TokenizedExample.of(r.getAs("id"), src, tgt));
      sources.add(source == null ? "" : source);
      references.add(target);
    }
    long start = System.nanoTime();
    Decoder decoder = new Decoder(model, config.decode());
    List<String> hypotheses = new ArrayList<>(examples.size());
    int batch = config.decode().batchSize();
    for (int from = 0; from < examples.size(); from += batch) {
      List<int[]> prompts = examples.subList(from, Math.min(examples.size(), from + batch)).stream()
          .map(TokenizedExample::prompt).toList();
      for (Hypothesis h : decoder.decode(prompts)) {
        hypotheses.add(tok.decode(h.tokens()));
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      progress.line("evaluate decoded %d/%d (%s) %.1f examples/s", hypotheses.size(), examples.size(),
          config.decode().strategy(), hypotheses.size() / seconds);
    }
    double ce = model.targetCrossEntropy(examples, 64)[0];
    Scores scores = Scores.of(hypotheses, references);
    Scores copy = Scores.of(sources, references);
    List<Map<String, Object>> samples = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      Map<String, Object> s = new LinkedHashMap<>();
      s.put("id", examples.get(i).id());
      s.put("source", sources.get(i));
      s.put("reference", references.get(i));
      s.put("hypothesis", hypotheses.get(i));
      samples.add(s);
    }
    progress.line("%-12s %8s %8s %10s", "system", "BLEU", "chrF", "len ratio");
    progress.line("%-12s %8.2f %8.2f %10.3f", "model", scores.bleu(), scores.chrf(), scores.lengthRatio());
    progress.line("%-12s %8.2f %8.2f %10.3f", "copy-source", copy.bleu(), copy.chrf(), copy.lengthRatio());
    progress.line("reference cross-entropy %.4f nats/token (perplexity %.2f) over %d examples", ce, Math.exp(ce),
        examples.size());
    Result result = new Result(scores, copy, ce, examples.size(), samples);
    if (report != null) {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("bleu", scores.bleu());
      json.put("chrf", scores.chrf());
      json.put("lengthRatio", scores.lengthRatio());
      json.put("copySource", Map.of("bleu", copy.bleu(), "chrf", copy.chrf()));
      json.put("referenceCrossEntropy", ce);
      json.put("decode", config.decode());
      json.put("model", modelDir.uri());
      json.put("input", input);
      json.put("rows", Map.of("input", corpus.inputRows(), "accepted", corpus.acceptedRows(),
          "rejectedByReason", corpus.rejectedByReason()));
      json.put("gitCommit", Provenance.gitCommit());
      json.put("examples", samples);
      report.writeJson(json);
      progress.line("report written to %s", report);
    }
    return result;
  }
}
