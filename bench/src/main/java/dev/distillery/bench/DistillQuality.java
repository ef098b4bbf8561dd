package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * Quality and speed of every distillation loss on the same teacher targets: teacher, the ce
 * (reference-only) baseline and each KD student, scored on the same held-out examples.
 * Args: [distill rows] [config] [variants, comma-separated keys] (defaults: 1000,
 * conf/examples/demo.conf, every variant the teacher allows: {@code okd} needs a transformer teacher).
 * The table is {@code distill-quality} for the demo configuration, {@code distill-quality-NAME} for
 * {@code NAME.conf} otherwise.
 */
public final class DistillQuality {
  public static void main(String[] args) throws Exception {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    Path conf = Path.of(args.length > 1 ? args[1] : "conf/examples/demo.conf");
    String confName = conf.getFileName().toString().replaceFirst("\\.conf$", "");
    String tableName = confName.equals("demo") ? "distill-quality" : "distill-quality-" + confName;
    Path work = Path.of("runs", "bench-" + tableName);
    Progress progress = new Progress(System.out);
    DistilleryConfig base = ConfigLoader.load(Optional.of(conf), List.of("prepare.overwrite=true"));
    boolean transformerTeacher = base.model().architecture().equals("transformer");
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
        "train s", "ms/step", "student tokens/s");
    boolean teacherRow = false;
    // Each variant: a label and its settings. Divergences on teacher prefixes read the stored outputs;
    // prefix = student samples from the student every round and has the live teacher score it.
    // Each variant: its key, label and settings.
    List<String[]> all = List.of(
        new String[] {"ce", "ce", "distill.loss=ce"},
        new String[] {"kl", "kl", "distill.loss=kl"},
        new String[] {"seqkd", "seqkd", "distill.loss=seqkd"},
        new String[] {"hybrid-fixed", "hybrid (fixed 0.5)", "distill.loss=hybrid", "distill.gate=fixed",
            "distill.gate-value=0.5"},
        new String[] {"hybrid-scheduled", "hybrid (scheduled)", "distill.loss=hybrid", "distill.gate=scheduled"},
        new String[] {"hybrid-learned", "hybrid (learned)", "distill.loss=hybrid", "distill.gate=learned"},
        new String[] {"rkl", "rkl", "distill.loss=rkl"},
        new String[] {"js", "js", "distill.loss=js"},
        new String[] {"tvd", "tvd", "distill.loss=tvd"},
        new String[] {"rkl-student", "rkl, prefix = student", "distill.loss=rkl", "distill.prefix=student"},
        new String[] {"js-student", "js, prefix = student", "distill.loss=js", "distill.prefix=student"},
        new String[] {"tvd-student", "tvd, prefix = student", "distill.loss=tvd", "distill.prefix=student"},
        new String[] {"okd", "okd", "distill.loss=okd"});
    List<String> keys = args.length > 2 ? List.of(args[2].split(","))
        : all.stream().map(v -> v[0]).filter(k -> transformerTeacher || !k.equals("okd")).toList();
    List<String[]> variants = new ArrayList<>();
    for (String key : keys) {
      variants.add(all.stream().filter(v -> v[0].equals(key)).findFirst().orElseThrow(
          () -> new IllegalArgumentException("Cannot run distill-quality: unknown variant: " + key)));
    }
    for (String[] keyed : variants) {
      String[] variant = java.util.Arrays.copyOfRange(keyed, 1, keyed.length);
      String label = variant[0];
      Path out = work.resolve("student-" + label.replaceAll("[^A-Za-z0-9]+", "-"));
      dev.distillery.util.FileTrees.deleteRecursively(out);
      // Students see far fewer pairs than the teacher: more epochs, as in the demo.
      List<String> o = new ArrayList<>(List.of("prepare.overwrite=true", "train.epochs=5"));
      o.addAll(List.of(variant).subList(1, variant.length));
      DistilleryConfig c = ConfigLoader.load(Optional.of(conf), o);
      DistillPipeline.Summary s = DistillPipeline.run(spark, c, targets, out, false, null, progress);
      if (!teacherRow) {
        var t = s.table().get(0);
        table.row("teacher (stored beam outputs)", "–", "–", t.beamBleu(), t.beamChrf(), t.referencePerplexity(), "–",
            "–", "–", "–");
        teacherRow = true;
      }
      for (var a : s.table()) {
        if (a.system().equals("adapted teacher")) {
          table.row("adapted teacher (okd, LoRA)", a.greedyBleu(), a.greedyChrf(), a.beamBleu(), a.beamChrf(),
              a.referencePerplexity(), a.bucketKl(), "–", "–", "–");
        }
      }
      var r = s.table().get(s.table().size() - 1);
      table.row("student " + label, r.greedyBleu(), r.greedyChrf(), r.beamBleu(), r.beamChrf(),
          r.referencePerplexity(), r.bucketKl(), s.seconds(), 1000 * s.seconds() / Math.max(1, s.steps()),
          s.tokensPerSecond());
    }
    table.note("held-out = the targets' validation split (stable hash of id, corpus.validation-fraction), "
        + base.distill().evalExamples() + " examples at most");
    table.note("distill.js-beta at its default (0.5); rkl/js/tvd without a prefix setting use teacher prefixes "
        + "(stored samples, else the beam output); 5 epochs each; local[*] Spark, " + base.train().batchPerWorker()
        + " per worker, averaging every " + base.train().averagingFrequency());
    if (keys.contains("okd")) {
      table.note("okd: LoRA rank " + base.distill().okd().rank() + ", scale " + base.distill().okd().scale()
          + ", alpha " + base.distill().okd().alpha() + " on the frozen teacher's q and v; ms/step includes the "
          + "teacher's forward and the modules' backward, which run inside training");
    } else if (!transformerTeacher) {
      table.note("online KD (okd) needs a transformer teacher: see distill-quality-okd.md "
          + "(bin/bench distill-quality 1000 conf/examples/okd.conf)");
    }
    table.publish(tableName, ("bin/bench distill-quality " + String.join(" ", args)).trim());
    spark.stop();
  }


  private DistillQuality() {}
}
