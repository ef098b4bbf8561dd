package dev.distillery.distill;

import dev.distillery.storage.Location;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a finished {@code distill} run leaves for people and tools to read besides the student: the
 * comparison table on the console, {@code summary.json} (camelCase keys; a non-finite number is
 * {@code null}) and {@code report.html} ({@link Report}).
 */
final class StudentReport {
  static final String SUMMARY = "summary.json";
  static final String REPORT = "report.html";

  private StudentReport() {}

  /**
   * @param loss the objective's {@code distill.loss} name
   * @param evalExamples how many held-out examples the table scored
   * @param result the training run (held-out loss per epoch, steps, seconds, tokens/s)
   * @param bridge the teacher-to-student token bridge when the student has its own vocabulary, else null
   * @param alignment how the held-out references align across the two vocabularies, else null
   */
  static void write(Location output, String loss, int evalExamples, List<SystemScores> table,
      SparkTrainer.Result result, TokenBridge bridge, TokenBridge.Alignment alignment,
      Progress progress) throws IOException {
    SystemScores.print(table, progress);
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("loss", loss);
    json.put("evalExamples", evalExamples);
    json.put("table", table);
    if (alignment != null) {
      TextTokenizer student = bridge.student();
      json.put("studentTokenizer", Map.of("vocabSize", student.vocabSize(), "sha256", student.sha256(),
          "teacherTokensMapped", bridge.mappedEntries(), "alignedPositions", alignment.alignedFraction(),
          "mappedMass", alignment.mappedFraction()));
    }
    json.put("validationLoss", result.validationLoss());
    json.put("steps", result.steps());
    json.put("trainSeconds", result.seconds());
    json.put("tokensPerSecond", result.tokensPerSecond());
    output.resolve(SUMMARY).writeJson(json);
    Report.write(output.resolve(REPORT), loss, output.resolve(DistillPipeline.METRICS), result.validationLoss(), table);
  }
}
