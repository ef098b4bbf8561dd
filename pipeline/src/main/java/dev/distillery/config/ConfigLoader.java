package dev.distillery.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds a {@link DistilleryConfig} from {@code reference.conf}, an optional HOCON file and
 * {@code key=value} overrides (later wins). Every key given by the user must exist in
 * {@code reference.conf}: a mistyped key is rejected with its name, never ignored.
 */
public final class ConfigLoader {
  private static final String ROOT = "distillery";

  private ConfigLoader() {}

  /** The defaults alone. */
  /** Keys earlier versions had, ignored with a warning rather than refused as unknown. */
  static final List<String> RETIRED = List.of("distillery.prepare.fail-first-attempt-of-shard");

  public static DistilleryConfig defaults() {
    return load(Optional.empty(), List.of());
  }

  /**
   * @param file a HOCON file whose keys may be written with or without the {@code distillery.} prefix
   * @param overrides {@code key=value} strings, keys with or without the {@code distillery.} prefix
   */
  public static DistilleryConfig load(Optional<Path> file, List<String> overrides) {
    Config reference = ConfigFactory.parseResources(ConfigLoader.class, "/reference.conf");
    Config user = ConfigFactory.empty();
    if (file.isPresent()) {
      Path path = file.get();
      if (!Files.isRegularFile(path)) {
        throw new ConfigException("Cannot load config: no such file: " + path);
      }
      user = rooted(parse(path));
    }
    for (String override : overrides) {
      user = rooted(parseOverride(override)).withFallback(user);
    }
    for (String retired : RETIRED) {
      if (user.hasPathOrNull(retired)) {
        // Older model directories record every key of their day in config.conf; they stay usable as --config.
        System.err.println("distillery: ignoring " + retired + ", which this version no longer has");
        user = user.withoutPath(retired);
      }
    }
    for (Map.Entry<String, ConfigValue> entry : user.entrySet()) {
      String key = entry.getKey();
      if (!reference.hasPathOrNull(key)) {
        throw new ConfigException("Cannot load config: unknown key: " + key + suggestion(reference, key));
      }
    }
    try {
      return DistilleryConfig.from(user.withFallback(reference).resolve());
    } catch (com.typesafe.config.ConfigException e) {
      throw new ConfigException("Cannot load config: " + e.getMessage(), e);
    }
  }

  private static Config parse(Path path) {
    try {
      return ConfigFactory.parseFile(
          path.toFile(), ConfigParseOptions.defaults().setSyntax(ConfigSyntax.CONF).setAllowMissing(false));
    } catch (com.typesafe.config.ConfigException e) {
      throw new ConfigException("Cannot load config: " + e.getMessage() + ": " + path, e);
    }
  }

  private static Config parseOverride(String override) {
    int eq = override.indexOf('=');
    if (eq <= 0) {
      throw new ConfigException("Cannot apply --set: expected key=value: " + override);
    }
    String key = override.substring(0, eq).trim();
    String value = override.substring(eq + 1).trim();
    try {
      return ConfigFactory.parseString(key + " = " + value);
    } catch (com.typesafe.config.ConfigException e) {
      // A value HOCON cannot parse unquoted (a path with ':' say) is taken as a plain string.
      return ConfigFactory.parseString(key + " = " + com.typesafe.config.ConfigUtil.quoteString(value));
    }
  }

  /** Lets users write {@code train.epochs} as well as {@code distillery.train.epochs}. */
  private static Config rooted(Config config) {
    Config rooted = config.hasPath(ROOT) ? config.getConfig(ROOT).atPath(ROOT) : ConfigFactory.empty();
    for (String key : config.root().keySet()) {
      if (!key.equals(ROOT)) {
        rooted = config.withOnlyPath(quote(key)).atPath(ROOT).withFallback(rooted);
      }
    }
    return rooted;
  }

  private static String quote(String key) {
    return com.typesafe.config.ConfigUtil.joinPath(key);
  }

  private static String suggestion(Config reference, String key) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (Map.Entry<String, ConfigValue> entry : reference.entrySet()) {
      int d = editDistance(entry.getKey(), key);
      if (d < bestDistance) {
        bestDistance = d;
        best = entry.getKey();
      }
    }
    return best != null && bestDistance <= 3 ? " (did you mean " + best + "?)" : "";
  }

  static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
