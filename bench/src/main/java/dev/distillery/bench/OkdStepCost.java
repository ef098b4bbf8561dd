package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.Architecture;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LoraAdapter;
import dev.distillery.model.TokenizedExample;
import dev.distillery.okd.OkdLoss;
import dev.distillery.okd.OnlineKd;
import dev.distillery.tokenizer.BpeTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Where an online-KD step's time goes, in one thread: the whole step (the pair graph's fit), the
 * adapted teacher's forward and backward alone, the student's alone, and the loss alone, on one
 * minibatch of real pairs at the shapes of a configuration (default conf/examples/okd.conf).
 * Timings depend on shapes only, so the models are freshly initialized. Args: [config] [steps].
 */
public final class OkdStepCost {
  public static void main(String[] args) throws Exception {
    Path conf = Path.of(args.length > 0 ? args[0] : "conf/examples/okd.conf");
    int steps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    DistilleryConfig c = ConfigLoader.load(Optional.of(conf), List.of());
    List<String[]> pairs = Samples.pairs(Path.of("data/sample/es-en.train.jsonl"), 6000);
    BpeTokenizer tok = Samples.tokenizer(pairs, c.tokenizer());
    // One minibatch of the sample's first pairs that fit, as distill would see them.
    List<TokenizedExample> fitting = Samples.tokenized(pairs, tok, c.model().maxTokens());
    List<TokenizedExample> refs = fitting.subList(0, Math.min(fitting.size(), c.train().batchPerWorker()));
    List<DistillExample> batch = refs.stream().map(e -> new DistillExample(e.id(), e.tokens(), e.targetStart(),
        Objective.Role.REFERENCE, new float[0], true)).toList();
    long positions = refs.stream().mapToLong(e -> e.tokens().length - 1).sum();

    LanguageModel teacher = LanguageModel.create(c.model(), tok, c.train().seed(), c.train().learningRate());
    ComputationGraph pair = OnlineKd.pair(teacher, c.distill().student(), c.distill().okd(), c.train().seed(),
        c.train().learningRate());
    DataSet okd = OnlineKd.dataSet(batch);
    DataSet plain = Batches.nextTokenDataSet(refs);
    LanguageModel adapted = LoraAdapter.attach(teacher,
        new Architecture.Lora(c.distill().okd().rank(), c.distill().okd().scale()));
    LanguageModel student = LanguageModel.create(c.distill().student(), tok, c.train().seed(), c.train().learningRate());

    double whole = millis(steps, () -> pair.fit(okd));
    double teacherOnly = millis(steps, () -> adapted.graph().fit(plain));
    double studentOnly = millis(steps, () -> student.graph().fit(plain));
    // The loss on the pair's real logits, [rows, 2·vocab] with rows = batch·time.
    OnlineKd.Rows r = OnlineKd.rows(pair, okd);
    OkdLoss loss = new OkdLoss(c.distill().okd().alpha());
    double lossOnly = millis(steps,
        () -> loss.computeGradientAndScore(r.labels(), r.logits(), new ActivationIdentity(), r.mask(), false));

    Table table = new Table("Cost of one online-KD step (" + conf + ", one thread)",
        "part", "ms per minibatch", "share of the okd step");
    table.row("okd step: pair graph fit (teacher + LoRA, student, OkdLoss)", whole, "100%");
    table.row("adapted teacher alone: forward + backward, base frozen", teacherOnly, pct(teacherOnly, whole));
    table.row("student alone: forward + backward (the ce step)", studentOnly, pct(studentOnly, whole));
    table.row("OkdLoss alone: both losses and their gradients", lossOnly, pct(lossOnly, whole));
    table.note("minibatch: the first " + batch.size() + " sample pairs within model.max-tokens, " + positions
        + " positions; teacher " + c.model().architecture() + " " + c.model().hidden() + "x" + c.model().layers()
        + " (" + teacher.graph().numParams() + " parameters), student " + c.distill().student().architecture() + " "
        + c.distill().student().embedding() + "/" + c.distill().student().hidden() + " ("
        + student.graph().numParams() + " parameters), LoRA rank " + c.distill().okd().rank());
    table.note("freshly initialized weights (time depends on shapes only); 3 warm-up steps, then the mean of "
        + steps + "; the teacher-alone row has a softmax output layer where the pair has frozen logits");
    table.publish("okd-step-cost", ("bin/bench okd-step-cost " + String.join(" ", args)).trim());
  }

  private static double millis(int steps, Runnable step) {
    return ModelSpeed.secondsPerStep(steps, step) * 1000;
  }

  private static String pct(double part, double whole) {
    return String.format("%.0f%%", 100 * part / whole);
  }

  private OkdStepCost() {}
}
