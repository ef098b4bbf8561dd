package dev.distillery.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The science table's verdicts: a claim is judged against the seeds' spread, on chrF and on perplexity. */
class ScienceVerdictsTest {

  private static Map<String, Object> row(double chrf, double ppl) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("greedyChrf", chrf);
    r.put("referencePerplexity", ppl);
    return r;
  }

  private static Map<String, Map<String, Object>> seeds(double[] ceChrf, double[] cePpl, double[] klChrf,
      double[] klPpl) {
    Map<String, Map<String, Object>> rows = new LinkedHashMap<>();
    String[] suffix = {"", "-seed2", "-seed3"};
    for (int i = 0; i < 3; i++) {
      rows.put("ce" + suffix[i], row(ceChrf[i], cePpl[i]));
      rows.put("kl" + suffix[i], row(klChrf[i], klPpl[i]));
    }
    return rows;
  }

  private static String line(List<String> lines, String start) {
    return lines.stream().filter(l -> l.startsWith(start)).findFirst()
        .orElseThrow(() -> new AssertionError("no line starting with " + start + " in " + lines));
  }

  @Test
  void aChrfDifferenceInsideTwoSeedDeviationsIsWithinNoiseButAPerplexityGapOutsideItsOwnHolds() {
    // chrF: ce 11/13/15 (sd 2), kl two points higher on average; perplexity: ce 270-278, kl 20 lower.
    Map<String, Map<String, Object>> rows = seeds(new double[] {11, 13, 15}, new double[] {270, 274, 278},
        new double[] {13, 15, 17}, new double[] {250, 254, 258});
    List<String> lines = Science.Verdicts.of(rows, row(38, 16));

    assertTrue(line(lines, "KD beats references alone (f-DISTILL").contains("kl within noise (+2.00)"), lines::toString);
    assertTrue(line(lines, "KD beats references alone on reference perplexity").contains("kl holds (254)"),
        lines::toString);
  }

  @Test
  void theGapLineSaysWhenTheBestKdStudentIsJudgedByItsSeedMean() {
    // ce 10/12/14 (mean 12), kl 13/15/17 (mean 15), teacher 42: kl recovers (15 - 12) / 30 = 10% on its mean.
    Map<String, Map<String, Object>> rows = seeds(new double[] {10, 12, 14}, new double[] {270, 272, 274},
        new double[] {13, 15, 17}, new double[] {260, 262, 264});
    rows.put("rkl", row(14, 1500));
    String gap = line(Science.Verdicts.of(rows, row(42, 16)), "gap recovered");
    assertTrue(gap.contains("(kl, mean of 3 seeds): 10%"), gap);

    rows.put("js", row(18, 900)); // one seed above kl's mean: now the best, judged by its one seed
    gap = line(Science.Verdicts.of(rows, row(42, 16)), "gap recovered");
    assertTrue(gap.contains("(js, one seed): 20%"), gap);
  }

  @Test
  void rowsFromTwoMachinesAreNamedByCpuAndOneMachineNeedsNoNote() {
    Map<String, Object> teacher = row(38, 16);
    teacher.put("cpu", "AMD EPYC");
    Map<String, Map<String, Object>> rows = new LinkedHashMap<>();
    rows.put("ce", row(12, 270));
    rows.get("ce").put("cpu", "AMD EPYC");
    assertTrue(Science.machines(teacher, rows).isEmpty());

    rows.put("kl", row(13, 260));
    rows.get("kl").put("cpu", "Intel Xeon");
    rows.put("okd", row(13, 250)); // written before rows recorded their CPU
    String note = Science.machines(teacher, rows).orElseThrow();
    assertTrue(note.contains("AMD EPYC: targets, teacher, ce; CPU not recorded: okd; Intel Xeon: kl"), note);
  }

  @Test
  void aStudentFarWorseInPerplexityThanCeDoesNotHoldOnIt() {
    Map<String, Map<String, Object>> rows = seeds(new double[] {11, 12, 13}, new double[] {270, 272, 274},
        new double[] {11, 12, 13}, new double[] {268, 270, 272});
    rows.put("rkl", row(12, 1500));
    List<String> lines = Science.Verdicts.of(rows, row(38, 16));

    String ppl = line(lines, "KD beats references alone on reference perplexity");
    assertTrue(ppl.contains("rkl does not hold (1500)"), ppl);
    assertTrue(ppl.contains("kl within noise (270)"), ppl);
  }

  @Test
  void withoutThreeSeedsTheVerdictsSayTheyAreProvisionalAndSkipPerplexity() {
    Map<String, Map<String, Object>> rows = new LinkedHashMap<>();
    rows.put("ce", row(12, 270));
    rows.put("kl", row(14, 250));
    List<String> lines = Science.Verdicts.of(rows, row(38, 16));

    assertTrue(lines.get(0).contains("provisional"), lines::toString);
    assertTrue(lines.stream().noneMatch(l -> l.contains("reference perplexity")), lines::toString);
  }

  @Test
  void runTimeSumsEachPartsOwnWallTimeAndNamesRowsWithoutOne() {
    Map<String, Object> teacher = row(38, 16);
    teacher.put("targetsSeconds", 500.0);
    teacher.put("wallSeconds", 100.0);
    Map<String, Map<String, Object>> rows = new LinkedHashMap<>();
    rows.put("ce", row(12, 270));
    rows.get("ce").put("wallSeconds", 3000.0);
    rows.put("kl", row(14, 250));
    rows.get("kl").put("wallSeconds", 4000.0);
    rows.put("okd", row(13, 200)); // resumed from a checkpoint: no time of its own

    String note = Science.runTime(teacher, rows);

    assertTrue(note.startsWith("run time: 2 h 06 min (targets 500 s, teacher 100 s, 2 student rows 7000 s"), note);
    assertTrue(note.endsWith("untimed rows, not included: [okd]"), note);
  }
}
