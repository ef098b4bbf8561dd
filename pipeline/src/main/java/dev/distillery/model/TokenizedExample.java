package dev.distillery.model;

import dev.distillery.tokenizer.TextTokenizer;
import java.io.Serializable;
import java.util.Arrays;

/**
 * One training sequence {@code <s> source <sep> target </s>} as token ids.
 *
 * @param tokens the whole sequence, {@code tokens[0] == BOS} and the last token {@code EOS}
 * @param targetStart index in {@code tokens} of the first target token (after {@code <sep>}); the
 *     loss covers positions {@code targetStart .. tokens.length-1}
 */
public record TokenizedExample(String id, int[] tokens, int targetStart) implements Sequence, Serializable {

  /** {@code <s> source <sep> target </s>}; a null or empty source gives a plain language-model row {@code <s> target </s>}. */
  public static TokenizedExample of(String id, int[] source, int[] target) {
    boolean hasSource = source != null && source.length > 0;
    int prefix = hasSource ? source.length + 2 : 1;
    int[] t = new int[prefix + target.length + 1];
    t[0] = TextTokenizer.BOS;
    if (hasSource) {
      System.arraycopy(source, 0, t, 1, source.length);
      t[source.length + 1] = TextTokenizer.SEP;
    }
    System.arraycopy(target, 0, t, prefix, target.length);
    t[t.length - 1] = TextTokenizer.EOS;
    return new TokenizedExample(id, t, prefix);
  }

  /** The decoding prompt: {@code <s> source <sep>}. */
  public int[] prompt() {
    return Arrays.copyOf(tokens, targetStart);
  }

  /** The source ids (empty for a plain-text row). */
  public int[] source() {
    return targetStart > 1 ? Arrays.copyOfRange(tokens, 1, targetStart - 1) : new int[0];
  }

  /** The target ids without {@code </s>}. */
  public int[] target() {
    return Arrays.copyOfRange(tokens, targetStart, tokens.length - 1);
  }

  /** Positions that carry loss: target tokens plus {@code </s>}. */
  @Override
  public int targetTokens() {
    return tokens.length - targetStart;
  }
}
