package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.train.Progress;
import dev.distillery.train.TrainPipeline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * Quality and speed of every distillation loss on the same teacher targets: teacher, the ce
 * (reference-only) baseline and each KD student, scored on the same held-out examples.
 * Args: [distill rows] [config] (defaults: 1000, conf/examples/demo.conf).
 */
public final class DistillQuality {
  public static void main(String[] args) throws Exception {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    Path conf = Path.of(args.length > 1 ? args[1] : "conf/examples/demo.conf");
    Path work = Path.of("runs", "bench-distill");
    Progress progress = new Progress(System.out);
    DistilleryConfig base = ConfigLoader.load(Optional.of(conf), List.of("prepare.overwrite=true"));
    SparkSession spark = Sessions.get(base.spark(), Optional.empty());
    Path teacher = work.resolve("teacher");
    if (!Files.exists(teacher.resolve(ModelBundle.META_FILE))) {
      TrainPipeline.run(spark, base, "data/sample/es-en.train.jsonl", teacher, progress);
    }
    Path slice = work.resolve("distill-input.jsonl");
    List<String> lines = Files.readAllLines(Path.of("data/sample/es-en.train.jsonl"));
    Files.write(slice, lines.subList(0, Math.min(rows, lines.size())));
    Path targets = work.resolve("targets");
    PreparePipeline.run(spark, base, slice.toString(), teacher, targets, progress);

    Table table = new Table("Distillation losses on the same targets (" + rows + " pairs, " + conf + ")",
        "system", "greedy BLEU", "greedy chrF", "beam BLEU", "beam chrF", "ref perplexity", "KL(T||S)",
        "train s", "student tokens/s");
    boolean teacherRow = false;
    for (String loss : List.of("ce", "kl", "seqkd", "hybrid", "rkl", "js", "tvd")) {
      Path out = work.resolve("student-" + loss);
      dev.distillery.util.FileTrees.deleteRecursively(out);
      // Students see far fewer pairs than the teacher: more epochs, as in the demo.
      List<String> o = new ArrayList<>(List.of("prepare.overwrite=true", "distill.loss=" + loss, "train.epochs=5"));
      DistilleryConfig c = ConfigLoader.load(Optional.of(conf), o);
      DistillPipeline.Summary s = DistillPipeline.run(spark, c, targets, out, false, null, progress);
      if (!teacherRow) {
        var t = s.table().get(0);
        table.row("teacher (stored beam outputs)", "–", "–", t.beamBleu(), t.beamChrf(), t.referencePerplexity(), "–",
            "–", "–");
        teacherRow = true;
      }
      var r = s.table().get(1);
      table.row("student " + loss, r.greedyBleu(), r.greedyChrf(), r.beamBleu(), r.beamChrf(),
          r.referencePerplexity(), r.teacherKl(), s.seconds(), s.tokensPerSecond());
    }
    table.note("held-out = the targets' validation split (stable hash of id, corpus.validation-fraction), "
        + base.distill().evalExamples() + " examples at most");
    table.note("hybrid: gate " + base.distill().gate() + " " + base.distill().gateValue()
        + "; js beta " + base.distill().jsBeta() + "; divergences on teacher prefixes (samples, else beam)");
    table.publish("distill-quality", "bin/bench distill-quality " + rows + " " + conf);
    spark.stop();
  }


  private DistillQuality() {}
}
