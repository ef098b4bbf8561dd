package dev.distillery.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.distill.SystemScores;
import dev.distillery.eval.Chrf;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.util.FileTrees;
import dev.distillery.util.Hashing;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;

/**
 * The science table of issue #17: one teacher's targets on TRAIN, a student per loss (same size, same
 * recipe, same steps), every one scored on TEST (greedy and beam BLEU/chrF, reference perplexity,
 * greedy chrF on the shorter and the longer half of TEST's sources), the full-vocabulary
 * KL(teacher‖student) against the live teacher on the targets' validation split, and seconds per
 * step; {@code ce} and {@code kl} with three seeds, so the table shows the noise the verdicts use.
 *
 * <p>Resumable: every finished row is kept as JSON under {@code bench/results/science-rows/STAMP}
 * (committed with the table, so a new checkout resumes too), targets and students under {@code
 * runs/bench-science/STAMP}, where an interrupted student resumes from its last checkpoint; a rerun
 * with the same inputs skips what is done and rewrites the table (a partial table names the rows
 * still missing). STAMP hashes the inputs (TRAIN, TEST, config, teacher, rows): new inputs start afresh.
 *
 * <p>Args: {@code TRAIN TEST [CONFIG] [--teacher DIR] [--rows N] [--all] [--only KEY,KEY]} (defaults:
 * conf/examples/science.conf, models/teacher-es-en, all TRAIN rows, the 21 rows issue #17 names;
 * {@code --all} adds the {@link #EXTRA} ones).
 */
public final class Science {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** One student: its key (file name), label, and settings over the config. */
  record Variant(String key, String label, List<String> settings) {
    static Variant of(String key, String label, String... settings) {
      return new Variant(key, label, List.of(settings));
    }
  }

  /** The larger student of the size axis (Wei et al.'s "big student"): 1.2 M parameters. */
  private static final String[] BIG = {"distill.student.embedding=128", "distill.student.hidden=128"};

  /**
   * The hybrid trains on two sequences per pair (the reference at token level, the teacher's output at
   * sentence level), so an epoch is twice the steps: half the epochs give it the others' step count.
   */
  private static final String[] HYBRID = {"distill.loss=hybrid", "train.epochs=5"};

  /** A student with a BPE of its own (1,000 tokens against the teacher's 3,000), distilled across tokenizers. */
  private static final String[] OWN = {"distill.student.tokenizer=own", "tokenizer.vocab-size=1000"};

  /** In the order they run: the rows every verdict needs first, the extra seeds, then the slow on-policy ones. */
  static final List<Variant> VARIANTS = List.of(
      Variant.of("ce", "ce (references only)", "distill.loss=ce"),
      Variant.of("kl", "kl", "distill.loss=kl"),
      Variant.of("seqkd", "seqkd", "distill.loss=seqkd"),
      Variant.of("hybrid-learned", "hybrid (learned gate)", concat(HYBRID, "distill.gate=learned")),
      Variant.of("rkl", "rkl", "distill.loss=rkl"),
      Variant.of("js", "js", "distill.loss=js"),
      Variant.of("tvd", "tvd", "distill.loss=tvd"),
      Variant.of("hybrid-fixed", "hybrid (fixed 0.5)", concat(HYBRID, "distill.gate=fixed", "distill.gate-value=0.5")),
      Variant.of("hybrid-scheduled", "hybrid (scheduled)", concat(HYBRID, "distill.gate=scheduled")),
      Variant.of("skl", "skl (skew KL)", "distill.loss=skl"),
      Variant.of("srkl", "srkl (skew reverse KL)", "distill.loss=srkl"),
      // At β = 0.5 the generalized JSD is js at 0.5 term for term: 0.9 (near reverse KL) is the row that adds.
      Variant.of("gjsd", "gjsd (β = 0.9)", "distill.loss=gjsd", "distill.gjsd-beta=0.9"),
      Variant.of("big-ce", "big ce", concat(BIG, "distill.loss=ce")),
      Variant.of("big-kl", "big kl", concat(BIG, "distill.loss=kl")),
      Variant.of("big-seqkd", "big seqkd", concat(BIG, "distill.loss=seqkd")),
      Variant.of("big-hybrid-learned", "big hybrid (learned gate)",
          concat(concat(BIG, HYBRID), "distill.gate=learned")),
      Variant.of("ce-seed2", "ce, seed 2", "distill.loss=ce", "train.seed=43"),
      Variant.of("ce-seed3", "ce, seed 3", "distill.loss=ce", "train.seed=44"),
      Variant.of("kl-seed2", "kl, seed 2", "distill.loss=kl", "train.seed=43"),
      Variant.of("kl-seed3", "kl, seed 3", "distill.loss=kl", "train.seed=44"),
      Variant.of("okd", "okd", "distill.loss=okd"),
      Variant.of("rkl-student", "rkl, prefix = student", "distill.loss=rkl", "distill.prefix=student"),
      Variant.of("js-student", "js, prefix = student", "distill.loss=js", "distill.prefix=student"),
      Variant.of("tvd-student", "tvd, prefix = student", "distill.loss=tvd", "distill.prefix=student"),
      Variant.of("ce-own", "ce, own 1,000-token vocabulary", concat(OWN, "distill.loss=ce")),
      Variant.of("kl-own", "kl span-aligned, own vocabulary", concat(OWN, "distill.loss=kl")),
      Variant.of("seqkd-own", "seqkd, own vocabulary", concat(OWN, "distill.loss=seqkd")),
      Variant.of("uld-own", "uld, own vocabulary", concat(OWN, "distill.loss=uld")));

  /**
   * Rows beyond the claims, run with {@code --all} or {@code --only}: the skewed divergences
   * and students with a vocabulary of their own (37 minutes of the first complete table, science-lr0.001.md).
   */
  static final java.util.Set<String> EXTRA = java.util.Set.of("skl", "srkl", "gjsd", "ce-own", "kl-own", "seqkd-own",
      "uld-own");

  private static String[] concat(String[] a, String... b) {
    String[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  public static void main(String[] args) throws Exception {
    List<String> positional = new ArrayList<>();
    Path teacher = Path.of("models/teacher-es-en");
    int rows = 0;
    List<String> only = List.of();
    boolean all = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--teacher" -> teacher = Path.of(args[++i]);
        case "--rows" -> rows = Integer.parseInt(args[++i]);
        case "--only" -> only = List.of(args[++i].split(","));
        case "--all" -> all = true;
        default -> {
          if (args[i].startsWith("--")) {
            throw new IllegalArgumentException("Cannot run science: unknown option (--teacher, --rows, --all, --only): "
                + args[i]);
          }
          positional.add(args[i]);
        }
      }
    }
    if (positional.size() < 2) {
      throw new IllegalArgumentException(
          "Cannot run science: usage: bin/bench science TRAIN TEST [CONFIG] [--teacher DIR] [--rows N] [--all] [--only KEY,...]");
    }
    Path train = Path.of(positional.get(0));
    Path test = Path.of(positional.get(1));
    Path conf = Path.of(positional.size() > 2 ? positional.get(2) : "conf/examples/science.conf");
    List<Variant> variants = new ArrayList<>();
    for (Variant v : VARIANTS) {
      if (only.isEmpty() ? all || !EXTRA.contains(v.key()) : only.contains(v.key())) {
        variants.add(v);
      }
    }
    for (String key : only) {
      if (VARIANTS.stream().noneMatch(v -> v.key().equals(key))) {
        throw new IllegalArgumentException("Cannot run science: unknown variant (one of "
            + VARIANTS.stream().map(Variant::key).toList() + "): " + key);
      }
    }

    // The work folder is named by what decides the results, so a rerun resumes and new inputs start afresh.
    String stamp = Hashing.sha256(String.join("\n", Hashing.sha256(train), Hashing.sha256(test), Hashing.sha256(conf),
        Hashing.sha256(teacher.resolve(ModelBundle.META_FILE)), String.valueOf(rows))).substring(0, 12);
    Path work = Path.of("runs", "bench-science", stamp);
    // Finished rows live beside the table and are committed: a later session (a new checkout) resumes there.
    Path rowsDir = Path.of("bench", "results", "science-rows", stamp);
    Files.createDirectories(rowsDir);
    Files.createDirectories(work);
    Progress progress = new Progress(System.out);
    progress.line("science: rows in %s, work in %s (%d variants; finished rows are kept, a rerun resumes)", rowsDir,
        work, variants.size());
    DistilleryConfig base = ConfigLoader.load(Optional.of(conf), List.of("prepare.overwrite=true"));
    SparkSession spark = Sessions.get(base.spark(), Optional.empty());

    Path input = train;
    if (rows > 0) {
      input = work.resolve("train-slice.jsonl");
      List<String> lines = Files.readAllLines(train);
      Files.write(input, lines.subList(0, Math.min(rows, lines.size())));
    }
    Path targets = work.resolve("targets");
    if (!Files.isRegularFile(work.resolve("targets.done"))) {
      progress.line("science: prepare the teacher's targets on %s", input);
      long start = System.nanoTime();
      PreparePipeline.run(spark, base, input.toString(), teacher, targets, progress);
      // The seconds it took, for the run-time note (the teacher row carries them into the committed rows).
      Files.writeString(work.resolve("targets.done"), seconds(start) + "\n");
    }

    Map<String, Object> teacherRow = readRow(rowsDir.resolve("teacher.json"));
    if (teacherRow == null) {
      progress.line("science: score the teacher on %s", test);
      long start = System.nanoTime();
      teacherRow = score(spark, conf, List.of(), teacher, test, work.resolve("teacher"), progress);
      Map<?, ?> shape = (Map<?, ?>) ModelBundle.metadata(teacher).get("shape");
      teacherRow.put("label", "teacher (" + shape.get("architecture") + " " + shape.get("hidden") + " x "
          + shape.get("layers") + ")");
      teacherRow.put("parameters", ((Number) ModelBundle.metadata(teacher).get("parameters")).longValue());
      teacherRow.put("wallSeconds", seconds(start));
      teacherRow.put("cpu", Table.cpu());
      String prepared = Files.readString(work.resolve("targets.done")).trim();
      if (prepared.matches("[0-9.]+")) { // targets prepared before timing was added say "prepared"
        teacherRow.put("targetsSeconds", Double.parseDouble(prepared));
      }
      writeRow(rowsDir.resolve("teacher.json"), teacherRow);
    }

    int done = 0;
    for (Variant v : variants) {
      Path file = rowsDir.resolve(v.key() + ".json");
      if (readRow(file) != null) {
        done++;
        continue;
      }
      progress.line("science %d/%d: distill %s", done + 1, variants.size(), v.label());
      List<String> o = new ArrayList<>(List.of("prepare.overwrite=true"));
      o.addAll(v.settings());
      DistilleryConfig c = ConfigLoader.load(Optional.of(conf), o);
      Path out = work.resolve("students").resolve(v.key());
      boolean resume = Files.isDirectory(out.resolve("checkpoints"));
      if (Files.isDirectory(out.resolve("model")) && !Files.isRegularFile(out.resolve("summary.json"))) {
        FileTrees.deleteRecursively(out); // a model with no summary: the run died after saving; redo it
        resume = false;
      }
      long start = System.nanoTime();
      DistillPipeline.Summary s = DistillPipeline.run(spark, c, targets, out, resume, null, progress);
      Map<String, Object> row = score(spark, conf, v.settings(), out.resolve("model"), test, out, progress);
      SystemScores last = s.table().get(s.table().size() - 1);
      row.put("label", v.label());
      row.put("settings", v.settings());
      row.put("parameters", ((Number) ModelBundle.metadata(out.resolve("model")).get("parameters")).longValue());
      row.put("vocabKl", last.vocabKl());
      row.put("eosArgmax", last.eosArgmax());
      row.put("steps", s.steps());
      row.put("seconds", s.seconds());
      row.put("secondsPerStep", s.seconds() / Math.max(1, s.steps()));
      if (!resume) { // a row resumed from a checkpoint would count only its last part: left untimed
        row.put("wallSeconds", seconds(start));
      }
      row.put("cpu", Table.cpu()); // a run resumed in another session may land on another machine
      writeRow(file, row);
      done++;
      render(rowsDir, variants, train, test, conf, teacher, rows, args);
    }
    render(rowsDir, variants, train, test, conf, teacher, rows, args);
    spark.stop();
  }

  /** Greedy and beam scores on TEST, with greedy chrF on the shorter and longer half of its sources. */
  private static Map<String, Object> score(SparkSession spark, Path conf, List<String> settings, Path model, Path test,
      Path dir, Progress progress) throws IOException {
    Map<String, Object> row = new LinkedHashMap<>();
    for (String strategy : List.of("greedy", "beam")) {
      List<String> o = new ArrayList<>(settings);
      o.add("decode.strategy=" + strategy);
      DistilleryConfig sc = ConfigLoader.load(Optional.of(conf), o);
      EvaluatePipeline.Result r = EvaluatePipeline.run(spark, sc, model, test.toString(),
          dir.resolve("test-" + strategy + ".json"), progress);
      row.put(strategy + "Bleu", r.model().bleu());
      row.put(strategy + "Chrf", r.model().chrf());
      row.put("referencePerplexity", Math.exp(r.referenceCrossEntropy()));
      row.put("copyChrf", r.copySource().chrf());
      List<String> hyps = r.samples().stream().map(m -> (String) m.get("hypothesis")).toList();
      List<String> refs = r.samples().stream().map(m -> (String) m.get("reference")).toList();
      List<Integer> lengths = r.samples().stream().map(m -> ((String) m.get("source")).length()).toList();
      int median = lengths.stream().sorted().toList().get(lengths.size() / 2);
      List<String> shortH = new ArrayList<>();
      List<String> shortR = new ArrayList<>();
      List<String> longH = new ArrayList<>();
      List<String> longR = new ArrayList<>();
      for (int i = 0; i < hyps.size(); i++) {
        (lengths.get(i) < median ? shortH : longH).add(hyps.get(i));
        (lengths.get(i) < median ? shortR : longR).add(refs.get(i));
      }
      row.put(strategy + "ChrfShort", Chrf.corpus(shortH, shortR));
      row.put(strategy + "ChrfLong", Chrf.corpus(longH, longR));
      // Output length against the references (chars): an empty or truncated student shows here first.
      row.put(strategy + "LengthRatio", r.model().lengthRatio());
      row.put("testExamples", r.examples());
      row.put("shortHalf", "sources under " + median + " characters: " + shortH.size() + " of " + hyps.size());
    }
    return row;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> readRow(Path file) throws IOException {
    return Files.isRegularFile(file) ? JSON.readValue(file.toFile(), LinkedHashMap.class) : null;
  }

  private static void writeRow(Path file, Map<String, Object> row) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    JSON.writeValue(tmp.toFile(), row);
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  private static double seconds(long startNanos) {
    return Math.round((System.nanoTime() - startNanos) / 1e8) / 10.0;
  }

  private static double num(Map<String, Object> row, String key) {
    Object v = row.get(key);
    return v instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  private static void render(Path rowsDir, List<Variant> variants, Path train, Path test, Path conf, Path teacher,
      int rows, String[] args) throws IOException {
    Map<String, Map<String, Object>> done = new LinkedHashMap<>();
    for (Variant v : variants) {
      Map<String, Object> r = readRow(rowsDir.resolve(v.key() + ".json"));
      if (r != null) {
        done.put(v.key(), r);
      }
    }
    Map<String, Object> t = readRow(rowsDir.resolve("teacher.json"));
    Table table = new Table("The papers' claims on one teacher: every loss, the same student (" + test + ")",
        "system", "params", "greedy BLEU", "greedy chrF", "beam BLEU", "beam chrF", "chrF short", "chrF long",
        "len ratio", "ref ppl", "KL(T||S)", "argmax </s>", "s/step", "steps");
    table.row("copy the source", "–", "–", num(t, "copyChrf"), "–", "–", "–", "–", "–", "–", "–", "–", "–", "–");
    table.row(t.get("label"), num(t, "parameters"), num(t, "greedyBleu"), num(t, "greedyChrf"), num(t, "beamBleu"),
        num(t, "beamChrf"), num(t, "greedyChrfShort"), num(t, "greedyChrfLong"), num(t, "greedyLengthRatio"),
        num(t, "referencePerplexity"), "–", "–", "–", "–");
    for (Map.Entry<String, Map<String, Object>> e : done.entrySet()) {
      Map<String, Object> r = e.getValue();
      table.row("student " + r.get("label"), num(r, "parameters"), num(r, "greedyBleu"), num(r, "greedyChrf"),
          num(r, "beamBleu"), num(r, "beamChrf"), num(r, "greedyChrfShort"), num(r, "greedyChrfLong"),
          num(r, "greedyLengthRatio"), num(r, "referencePerplexity"),
          // Across vocabularies there is no full-vocabulary KL.
          Double.isNaN(num(r, "vocabKl")) ? "–" : num(r, "vocabKl"),
          Double.isNaN(num(r, "eosArgmax")) ? "–" : num(r, "eosArgmax"), num(r, "secondsPerStep"), num(r, "steps"));
    }
    if (done.size() < variants.size()) {
      List<String> missing = variants.stream().map(Variant::key).filter(k -> !done.containsKey(k)).toList();
      table.note("PARTIAL: " + done.size() + " of " + variants.size() + " rows; not run yet: " + missing
          + " (rerun the same command to continue)");
    }
    table.note("TRAIN " + train + (rows > 0 ? " (first " + rows + " rows)" : "") + "; TEST " + test + "; config " + conf
        + "; teacher " + teacher);
    table.note("chrF short / long: greedy chrF on TEST pairs whose source is shorter / not shorter than the median; "
        + "len ratio: greedy output characters / reference characters; KL(T||S): full-vocabulary KL against the "
        + "live teacher on the targets' validation split (none across vocabularies); argmax </s>: fraction of the "
        + "reference positions there (the last excepted) where the student's most likely token is </s>; ref ppl: per token of the "
        + "system's own tokenizer, so the own-vocabulary rows' (1,000-token BPE) are not comparable with the others'; "
        + "s/step: distill wall seconds / steps (on the machine the row ran on, local[*])");
    table.note(runTime(t, done));
    machines(t, done).ifPresent(table::note);
    for (String line : Verdicts.of(done, t)) {
      table.note(line);
    }
    table.publish("science", ("bin/bench science " + String.join(" ", args)).trim());
  }

  /**
   * Which CPU ran which rows, when more than one did (a run resumed in another session may move to
   * another machine, and then s/step and the run time mix them); empty when all rows name one CPU.
   */
  static Optional<String> machines(Map<String, Object> teacher, Map<String, Map<String, Object>> rows) {
    Map<String, List<String>> byCpu = new TreeMap<>();
    byCpu.computeIfAbsent(cpuOf(teacher), c -> new ArrayList<>()).add("targets, teacher");
    rows.forEach((key, row) -> byCpu.computeIfAbsent(cpuOf(row), c -> new ArrayList<>()).add(key));
    if (byCpu.size() < 2) {
      return Optional.empty();
    }
    List<String> parts = new ArrayList<>();
    byCpu.forEach((cpu, keys) -> parts.add(cpu + ": " + String.join(", ", keys)));
    return Optional.of("rows ran on more than one machine (s/step and run time mix them): " + String.join("; ", parts));
  }

  private static String cpuOf(Map<String, Object> row) {
    Object cpu = row == null ? null : row.get("cpu");
    return cpu == null ? "CPU not recorded" : cpu.toString();
  }

  /**
   * The run's time as the sum of its parts' own wall times (targets, the teacher's row, each student's
   * distill and scoring), so that a run resumed across sessions is timed without its pauses; rows
   * without a time (resumed from a checkpoint, or written before rows were timed) are named.
   */
  static String runTime(Map<String, Object> teacher, Map<String, Map<String, Object>> rows) {
    double total = num(teacher, "targetsSeconds") + num(teacher, "wallSeconds");
    List<String> untimed = new ArrayList<>();
    double students = 0;
    for (Map.Entry<String, Map<String, Object>> e : rows.entrySet()) {
      double w = num(e.getValue(), "wallSeconds");
      if (Double.isNaN(w)) {
        untimed.add(e.getKey());
      } else {
        students += w;
      }
    }
    if (Double.isNaN(total)) {
      return "run time: not recorded (the targets or the teacher's row predate timing)";
    }
    total += students;
    return String.format(java.util.Locale.ROOT, "run time: %d h %02d min (targets %.0f s, teacher %.0f s, %d student "
        + "rows %.0f s; the sum of each part's own wall time, so pauses between sessions do not count)%s",
        (long) (total / 3600), (long) (total % 3600 / 60), num(teacher, "targetsSeconds"), num(teacher, "wallSeconds"),
        rows.size() - untimed.size(), students, untimed.isEmpty() ? "" : "; untimed rows, not included: " + untimed);
  }

  /** The claims, judged from the rows done so far; noise = the seeds' spread. */
  static final class Verdicts {
    static List<String> of(Map<String, Map<String, Object>> rows, Map<String, Object> teacher) {
      List<String> out = new ArrayList<>();
      double[] ce = chrf(rows, "ce", "ce-seed2", "ce-seed3");
      double[] kl = chrf(rows, "kl", "kl-seed2", "kl-seed3");
      double noise = Math.max(sd(ce), sd(kl));
      if (ce.length == 0) {
        out.add("verdicts: need the ce row");
        return out;
      }
      double ceMean = mean(ce);
      boolean seeded = ce.length >= 3 && kl.length >= 3;
      String noiseText = seeded ? String.format(Locale.ROOT, "2 sd of the 3 seeds = %.2f chrF", 2 * noise)
          : "noise not measured yet (needs 3 seeds of ce and kl): verdicts provisional, margin 1.0 chrF";
      double margin = seeded ? 2 * noise : 1.0;
      out.add("verdicts on greedy chrF (" + noiseText + "):");
      Map<String, Double> kd = new TreeMap<>();
      for (Map.Entry<String, Map<String, Object>> e : rows.entrySet()) {
        String k = e.getKey();
        if (!k.startsWith("ce") && !k.startsWith("big-") && !k.contains("-seed") && !k.endsWith("-own")) {
          kd.put(k, k.equals("kl") ? mean(kl) : num(e.getValue(), "greedyChrf"));
        }
      }
      List<String> above = new ArrayList<>();
      for (Map.Entry<String, Double> e : kd.entrySet()) {
        above.add(String.format(Locale.ROOT, "%s %s (%+.2f)", e.getKey(), judge(e.getValue() - ceMean, margin),
            e.getValue() - ceMean));
      }
      out.add(String.format(Locale.ROOT, "KD beats references alone (f-DISTILL Table 2), against ce %.2f: %s", ceMean,
          above.isEmpty() ? "no KD row yet" : String.join("; ", above)));
      // Reference perplexity varies far less across seeds than chrF (whose spread here follows output length):
      // the same claim on it, with its own noise.
      double[] cePpl = metric(rows, "referencePerplexity", "ce", "ce-seed2", "ce-seed3");
      double[] klPpl = metric(rows, "referencePerplexity", "kl", "kl-seed2", "kl-seed3");
      if (seeded) {
        double pplMargin = 2 * Math.max(sd(cePpl), sd(klPpl));
        List<String> lower = new ArrayList<>();
        for (String k : kd.keySet()) {
          double ppl = k.equals("kl") ? mean(klPpl) : num(rows.get(k), "referencePerplexity");
          // Lower is better: the difference is ce's minus the student's.
          lower.add(String.format(Locale.ROOT, "%s %s (%.0f)", k, judge(mean(cePpl) - ppl, pplMargin), ppl));
        }
        out.add(String.format(Locale.ROOT, "KD beats references alone on reference perplexity (lower is better; 2 sd of "
            + "the 3 seeds = %.1f), against ce %.0f: %s", pplMargin, mean(cePpl), String.join("; ", lower)));
      }
      if (kd.containsKey("kl") && kd.containsKey("rkl") && kd.containsKey("js") && kd.containsKey("tvd")) {
        out.add(String.format(Locale.ROOT, "f-DISTILL's ordering: js vs kl %s (%+.2f), tvd vs kl %s (%+.2f), kl vs rkl %s (%+.2f)",
            judge(kd.get("js") - kd.get("kl"), margin), kd.get("js") - kd.get("kl"),
            judge(kd.get("tvd") - kd.get("kl"), margin), kd.get("tvd") - kd.get("kl"),
            judge(kd.get("kl") - kd.get("rkl"), margin), kd.get("kl") - kd.get("rkl")));
      }
      if (rows.containsKey("kl") && rows.containsKey("seqkd")) {
        Map<String, Object> k = rows.get("kl");
        Map<String, Object> s = rows.get("seqkd");
        double shortGap = num(k, "greedyChrfShort") - num(s, "greedyChrfShort");
        double longGap = num(k, "greedyChrfLong") - num(s, "greedyChrfLong");
        out.add(String.format(Locale.ROOT, "Wei et al., text difficulty (token- minus sentence-level higher on short "
                + "sources than on long ones): %s (short %+.2f, long %+.2f, difference %+.2f)",
            judge(shortGap - longGap, margin), shortGap, longGap, shortGap - longGap));
        if (rows.containsKey("big-kl") && rows.containsKey("big-seqkd")) {
          double small = num(k, "greedyChrf") - num(s, "greedyChrf");
          double big = num(rows.get("big-kl"), "greedyChrf") - num(rows.get("big-seqkd"), "greedyChrf");
          out.add(String.format(Locale.ROOT, "Wei et al., student size (token- minus sentence-level higher for the big "
                  + "student than for the small one): %s (small %+.2f, big %+.2f, difference %+.2f)",
              judge(big - small, margin), small, big, big - small));
        }
        for (String[] h : new String[][] {{"hybrid-learned", "kl", "seqkd"}, {"big-hybrid-learned", "big-kl", "big-seqkd"}}) {
          if (rows.containsKey(h[0]) && rows.containsKey(h[1]) && rows.containsKey(h[2])) {
            double hybrid = num(rows.get(h[0]), "greedyChrf");
            double best = Math.max(num(rows.get(h[1]), "greedyChrf"), num(rows.get(h[2]), "greedyChrf"));
            // "At least as good": a loss inside the noise does not refute it, so only a clear loss is "does not hold".
            out.add(String.format(Locale.ROOT, "Wei et al., %s at least as good as both %s and %s: %s (%+.2f against "
                    + "the better)", h[0], h[1], h[2], hybrid - best >= -margin ? (hybrid - best > margin ? "holds"
                    : "within noise") : "does not hold", hybrid - best));
          }
        }
      }
      if (rows.containsKey("okd") && rows.containsKey("kl")) {
        double okd = num(rows.get("okd"), "greedyChrf");
        double okdStep = num(rows.get("okd"), "secondsPerStep");
        double onPolicy = rows.entrySet().stream().filter(e -> e.getKey().endsWith("-student"))
            .mapToDouble(e -> num(e.getValue(), "secondsPerStep")).min().orElse(Double.NaN);
        out.add(String.format(Locale.ROOT, "OKD, at least kl's quality: %s (%+.2f against kl's seed mean)",
            okd - mean(kl) >= -margin ? (okd - mean(kl) > margin ? "holds" : "within noise") : "does not hold",
            okd - mean(kl)));
        if (!Double.isNaN(onPolicy)) {
          // Seconds per step is one measurement per row on a shared machine: 10% is the smallest gap called a win.
          out.add(String.format(Locale.ROOT, "OKD, in less time than on-policy distillation: %s (%.2f s/step against "
                  + "the fastest prefix = student row's %.2f, ratio %.2f)",
              okdStep < 0.9 * onPolicy ? "holds" : okdStep > 1.1 * onPolicy ? "does not hold" : "within noise",
              okdStep, onPolicy, okdStep / onPolicy));
        }
      }
      if (rows.containsKey("ce-own")) {
        double ceOwn = num(rows.get("ce-own"), "greedyChrf");
        List<String> across = new ArrayList<>();
        for (String key : List.of("kl-own", "seqkd-own", "uld-own")) {
          if (rows.containsKey(key)) {
            double v = num(rows.get(key), "greedyChrf");
            across.add(String.format(Locale.ROOT, "%s %s (%+.2f)", key, judge(v - ceOwn, margin), v - ceOwn));
          }
        }
        if (!across.isEmpty()) {
          out.add(String.format(Locale.ROOT, "Across tokenizers, KD beats the own-vocabulary student on references "
              + "alone (ce-own %.2f): %s", ceOwn, String.join("; ", across)));
        }
        if (rows.containsKey("kl-own")) {
          double klOwn = num(rows.get("kl-own"), "greedyChrf");
          out.add(String.format(Locale.ROOT, "Across tokenizers, span-aligned kl against same-vocabulary kl (seed mean "
              + "%.2f): %s (%+.2f)", mean(kl), judge(klOwn - mean(kl), margin), klOwn - mean(kl)));
        }
      }
      double teacherChrf = num(teacher, "greedyChrf");
      String bestKey = kd.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(null);
      if (bestKey != null && teacherChrf > ceMean) {
        // The best of many single-seed rows is biased upwards by the noise: read it with the seeds' spread.
        // kl is judged by its seed mean, every other KD row by its one seed.
        String seeds = bestKey.equals("kl") && kl.length > 1 ? "mean of " + kl.length + " seeds" : "one seed";
        out.add(String.format(Locale.ROOT, "gap recovered by the best KD student (%s, %s): %.0f%% of teacher %.2f − ce "
            + "%.2f (goal 70%%)", bestKey, seeds, 100 * (kd.get(bestKey) - ceMean) / (teacherChrf - ceMean), teacherChrf,
            ceMean));
      }
      return out;
    }

    private static String judge(double diff, double margin) {
      return diff > margin ? "holds" : diff < -margin ? "does not hold" : "within noise";
    }

    private static double[] chrf(Map<String, Map<String, Object>> rows, String... keys) {
      return metric(rows, "greedyChrf", keys);
    }

    private static double[] metric(Map<String, Map<String, Object>> rows, String metric, String... keys) {
      return Arrays.stream(keys).filter(rows::containsKey).mapToDouble(k -> num(rows.get(k), metric)).toArray();
    }

    private static double mean(double[] v) {
      return Arrays.stream(v).average().orElse(Double.NaN);
    }

    private static double sd(double[] v) {
      if (v.length < 2) {
        return 0;
      }
      double m = mean(v);
      return Math.sqrt(Arrays.stream(v).map(x -> (x - m) * (x - m)).sum() / (v.length - 1));
    }
  }

  private Science() {}
}
