package dev.distillery.export;

import dev.distillery.model.LanguageModel;
import java.util.List;
import java.util.Map;

/**
 * The {@code README.md} of an export: what the model is, how to prompt it, where it came from (the
 * provenance its model directory recorded: job, teacher, targets, loss, data fingerprint, steps; for
 * a student, its targets' input, row count and the sha256 of their manifest, which lists every
 * Parquet file's sha256)
 * and, when it came out of {@code distill}, the run's comparison table.
 */
final class ModelCard {
  private ModelCard() {}

  static String render(LanguageModel model, Map<?, ?> source, Map<?, ?> targets, Map<String, Object> summary,
      boolean withPast) {
    StringBuilder md = new StringBuilder();
    Map<?, ?> provenance = source.get("provenance") instanceof Map<?, ?> p ? p : Map.of();
    md.append("# Distillery ").append(model.shape().architecture()).append(" (")
        .append(String.format("%,d", model.graph().numParams())).append(" parameters)\n\n");
    md.append("A causal language model over `<s> source <sep> target </s>`, exported from Distillery to ONNX")
        .append(withPast ? " with past key values" : "").append(". Prompt it with `<s>` (id 2), the source's")
        .append(" tokens and `<sep>` (id 4); generate until `</s>` (id 3). `tokenizer.json` encodes without")
        .append(" adding special tokens.\n\n");
    md.append("| | |\n|---|---|\n");
    row(md, "architecture", model.shape().architecture());
    row(md, "shape", "hidden " + model.shape().hidden() + ", layers " + model.shape().layers()
        + (model.shape().heads() > 0 ? ", heads " + model.shape().heads() : ""));
    row(md, "vocabulary", model.vocabSize() + " tokens (Distillery BPE, sha256 " + source.get("tokenizerSha256") + ")");
    row(md, "longest sequence", model.maxTokens() + " tokens");
    for (String key : List.of("job", "loss", "teacherFingerprint", "targets", "init", "topK", "steps", "corpus",
        "gitCommit", "createdAt")) {
      Object value = provenance.get(key);
      if (value != null) {
        row(md, key, value instanceof Map<?, ?> m && m.containsKey("dataSha256")
            ? m.get("input") + " (data sha256 " + m.get("dataSha256") + ", " + m.get("acceptedRows") + " rows)"
            : String.valueOf(value));
      }
    }
    if (targets != null) {
      row(md, "targets data", targets.get("input") + " → " + targets.get("rows") + " rows, teacher "
          + targets.get("teacher") + ", top-" + targets.get("topK") + " (manifest sha256 " + targets.get("manifestSha256") + ")");
    }
    if (summary != null && summary.get("table") instanceof List<?> table) {
      md.append("\n## Scores of the distill run (held-out pairs: ").append(summary.get("evalExamples")).append(")\n\n");
      md.append("| system | greedy BLEU | greedy chrF | beam BLEU | beam chrF | reference perplexity |\n");
      md.append("|---|---:|---:|---:|---:|---:|\n");
      for (Object o : table) {
        if (o instanceof Map<?, ?> s) {
          md.append("| ").append(s.get("system")).append(" | ").append(fmt(s.get("greedyBleu"))).append(" | ")
              .append(fmt(s.get("greedyChrf"))).append(" | ").append(fmt(s.get("beamBleu"))).append(" | ")
              .append(fmt(s.get("beamChrf"))).append(" | ").append(fmt(s.get("referencePerplexity"))).append(" |\n");
        }
      }
    }
    md.append("\n## Files\n\n")
        .append("- `model.onnx`: inputs `input_ids`, `attention_mask` [batch, ").append(withPast ? "past + " : "")
        .append("sequence] int64").append(withPast ? ", `past_key_values.N.key/value` [batch, heads, past, head_dim]" : "")
        .append("; outputs `logits` [batch, sequence, vocab]").append(withPast ? ", `present.N.key/value`" : "")
        .append(" (opset ").append(OnnxGraph.OPSET).append(")\n")
        .append("- `tokenizer.json`: Hugging Face `tokenizers` BPE with a Metaspace pre-tokenizer and decoder\n")
        .append("- `config.json`, `generation_config.json`, `tokenizer_config.json`: special ids and lengths\n")
        .append("- `distillery.json`: the source model's metadata and the export's checksums\n");
    return md.toString();
  }

  private static void row(StringBuilder md, String key, String value) {
    md.append("| ").append(key).append(" | ").append(value.replace("|", "\\|")).append(" |\n");
  }

  private static String fmt(Object v) {
    return v instanceof Number n && !Double.isNaN(n.doubleValue()) ? String.format("%.2f", n.doubleValue()) : "–";
  }
}
