package dev.distillery.corpus;

import java.io.Serializable;

/**
 * One input row after validation: either accepted ({@code reason == null}) or rejected with a reason
 * and a detail that names the field or problem.
 *
 * @param source null for plain-text (language-model) rows
 */
public record ParsedRow(String id, String source, String target, RejectReason reason, String detail)
    implements Serializable {
  static ParsedRow accept(String id, String source, String target) {
    return new ParsedRow(id, source, target, null, null);
  }

  static ParsedRow reject(String id, RejectReason reason, String detail) {
    return new ParsedRow(id, null, null, reason, detail);
  }

  public boolean accepted() {
    return reason == null;
  }
}
