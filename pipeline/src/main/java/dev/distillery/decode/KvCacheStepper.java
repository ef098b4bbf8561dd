package dev.distillery.decode;

import dev.distillery.model.KvCache;
import dev.distillery.model.LanguageModel;
import java.util.List;

/** Steps a transformer with its key/value cache ({@link KvCache}): one position per new token. */
final class KvCacheStepper implements Stepper {
  private final KvCache cache;

  KvCacheStepper(LanguageModel model) {
    this.cache = new KvCache(model);
  }

  @Override
  public float[][] start(List<int[]> prompts) {
    return cache.start(prompts);
  }

  @Override
  public float[][] step(int[] parents, int[] tokens) {
    return cache.step(parents, tokens);
  }
}
