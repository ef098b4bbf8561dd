package dev.distillery.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How each model predicts the references of a test set, split by whether the teacher ranks the
 * reference token in its top k at that position: the perplexity on each part, the mean probability
 * of the most likely token and the mean entropy. It tells a student that spreads its mass too thin
 * (high entropy) from one that is confidently wrong (low entropy, high perplexity even where the
 * teacher agrees with the reference), which a single perplexity cannot.
 *
 * <p>Args: {@code TEST TEACHER MODEL...} (every model on the teacher's vocabulary); {@code --top-k K}
 * (default 8, prepare's).
 */
public final class ReferenceFit {
  public static void main(String[] args) throws Exception {
    int k = 8;
    List<String> positional = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--top-k")) {
        k = Integer.parseInt(args[++i]);
      } else if (args[i].startsWith("--")) {
        throw new IllegalArgumentException("Cannot run reference-fit: unknown option (--top-k): " + args[i]);
      } else {
        positional.add(args[i]);
      }
    }
    if (positional.size() < 3) {
      throw new IllegalArgumentException("Cannot run reference-fit: usage: bin/bench reference-fit TEST TEACHER MODEL... "
          + "[--top-k K]");
    }
    Path test = Path.of(positional.get(0));
    LanguageModel teacher = ModelBundle.load(Path.of(positional.get(1)));
    ObjectMapper json = new ObjectMapper();
    List<TokenizedExample> examples = new ArrayList<>();
    for (String line : Files.readAllLines(test)) {
      if (line.isBlank()) {
        continue;
      }
      Map<?, ?> m = json.readValue(line, Map.class);
      examples.add(TokenizedExample.of(String.valueOf(m.get("id")), teacher.tokenizer().encode((String) m.get("source")),
          teacher.tokenizer().encode((String) m.get("target"))));
    }
    // Per example, per position: whether the reference's next token is among the teacher's k most likely.
    List<boolean[]> inTop = new ArrayList<>();
    for (TokenizedExample e : examples) {
      float[][] lp = logProbs(teacher, e);
      boolean[] in = new boolean[lp.length];
      for (int t = e.targetStart() - 1; t < e.tokens().length - 1; t++) {
        float gold = lp[t][e.tokens()[t + 1]];
        int rank = 0;
        for (float x : lp[t]) {
          rank += x > gold ? 1 : 0;
        }
        in[t] = rank < k;
      }
      inTop.add(in);
    }
    Table table = new Table("How each model predicts the references, split by the teacher's top " + k + " (" + test + ")",
        "model", "positions", "in teacher top-" + k, "ppl inside", "ppl outside", "ppl all", "mean max p",
        "mean entropy (nats)");
    for (String dir : positional.subList(1, positional.size())) {
      LanguageModel model = ModelBundle.load(Path.of(dir));
      if (model.tokenizer().vocabSize() != teacher.tokenizer().vocabSize()) {
        throw new IllegalArgumentException("Cannot run reference-fit: the model's vocabulary is not the teacher's ("
            + model.tokenizer().vocabSize() + " vs " + teacher.tokenizer().vocabSize() + "): " + dir);
      }
      double nIn = 0, nOut = 0, llIn = 0, llOut = 0, maxP = 0, entropy = 0;
      for (int i = 0; i < examples.size(); i++) {
        TokenizedExample e = examples.get(i);
        float[][] lp = logProbs(model, e);
        for (int t = e.targetStart() - 1; t < e.tokens().length - 1; t++) {
          double gold = lp[t][e.tokens()[t + 1]];
          double max = 0;
          for (float x : lp[t]) {
            double p = Math.exp(x);
            max = Math.max(max, p);
            entropy -= p > 0 ? p * x : 0;
          }
          maxP += max;
          if (inTop.get(i)[t]) {
            nIn++;
            llIn += gold;
          } else {
            nOut++;
            llOut += gold;
          }
        }
      }
      double n = nIn + nOut;
      table.row(dir, (long) n, nIn / n, Math.exp(-llIn / nIn), Math.exp(-llOut / nOut), Math.exp(-(llIn + llOut) / n),
          maxP / n, entropy / n);
    }
    table.note("positions: every reference token and </s> of TEST, teacher-forced on the reference; in teacher top-" + k
        + ": the share whose token the teacher ranks among its " + k + " most likely there (what prepare stores); ppl "
        + "inside / outside: the model's perplexity on those and on the rest");
    table.publish("reference-fit", "bin/bench reference-fit " + String.join(" ", args));
  }

  /** Teacher-forced log-probabilities of one sequence, {@code [time][vocab]}. */
  private static float[][] logProbs(LanguageModel model, TokenizedExample e) {
    INDArray lp = model.logProbs(List.of(e.tokens())); // [1, vocab, time]
    int vocab = (int) lp.size(1);
    int time = e.tokens().length;
    float[][] out = new float[time][vocab];
    float[] flat = lp.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0)).transpose().dup('c').data().asFloat();
    for (int t = 0; t < time; t++) {
      System.arraycopy(flat, t * vocab, out[t], 0, vocab);
    }
    return out;
  }

  private ReferenceFit() {}
}
