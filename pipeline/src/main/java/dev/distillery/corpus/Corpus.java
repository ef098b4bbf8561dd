package dev.distillery.corpus;

import dev.distillery.errors.DataException;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * A validated corpus. Every input row is in exactly one of {@code accepted} and {@code rejected}:
 * {@code inputRows == acceptedRows + sum(rejectedByReason)}.
 *
 * @param accepted columns {@code id, source (null for plain text), target, file, offset}, text normalized
 * @param rejected columns {@code file, offset, id, reason, detail, raw}
 */
public record Corpus(
    String path, Dataset<Row> accepted, Dataset<Row> rejected, long inputRows, long acceptedRows,
    Map<String, Long> rejectedByReason) {

  public long rejectedRows() {
    return rejectedByReason.values().stream().mapToLong(Long::longValue).sum();
  }

  /** One line for the console: {@code 305 rows: 300 accepted, 5 rejected (invalid_json 2, ...)}. */
  public String summary() {
    StringBuilder sb = new StringBuilder();
    sb.append(inputRows).append(" rows: ").append(acceptedRows).append(" accepted, ")
        .append(rejectedRows()).append(" rejected");
    if (!rejectedByReason.isEmpty()) {
      sb.append(" (");
      rejectedByReason.forEach((k, v) -> sb.append(k).append(' ').append(v).append(", "));
      sb.setLength(sb.length() - 2);
      sb.append(')');
    }
    return sb.toString();
  }

  /** Fails when the corpus is empty or too much of it was rejected. */
  public void requireUsable(double maxRejectFraction) {
    if (acceptedRows == 0) {
      throw new DataException("Cannot use corpus: no usable rows (" + summary() + "): " + path);
    }
    double fraction = (double) rejectedRows() / inputRows;
    if (fraction > maxRejectFraction) {
      throw new DataException(String.format(java.util.Locale.ROOT,
          "Cannot use corpus: %.1f%% of rows rejected, more than corpus.max-reject-fraction %.1f%% (%s): %s",
          100 * fraction, 100 * maxRejectFraction, summary(), path));
    }
  }
}
