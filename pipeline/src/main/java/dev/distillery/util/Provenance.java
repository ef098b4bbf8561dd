package dev.distillery.util;

import java.io.IOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Where a model came from: code version, time, host. */
public final class Provenance {
  private Provenance() {}

  public static Map<String, Object> base() {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("gitCommit", gitCommit());
    p.put("createdAt", Instant.now().toString());
    p.put("distilleryVersion", version());
    p.put("java", System.getProperty("java.version"));
    return p;
  }

  /** The project's version, from the build ({@code dev/distillery/version.properties}); "unknown" outside one. */
  public static String version() {
    try (var in = Provenance.class.getResourceAsStream("/dev/distillery/version.properties")) {
      if (in != null) {
        java.util.Properties p = new java.util.Properties();
        p.load(in);
        String v = p.getProperty("version", "");
        if (!v.isBlank() && !v.startsWith("${")) {
          return v;
        }
      }
    } catch (IOException e) {
      // The resource is in the jar; an unreadable one is as good as none.
    }
    return "unknown";
  }

  /** DISTILLERY_GIT_COMMIT if set (bin/distillery and images set it), else `git rev-parse HEAD`, else "unknown". */
  public static String gitCommit() {
    String env = System.getenv("DISTILLERY_GIT_COMMIT");
    if (env != null && !env.isBlank()) {
      return env;
    }
    try {
      Process p = new ProcessBuilder("git", "rev-parse", "HEAD").redirectErrorStream(true).start();
      if (p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0) {
        return new String(p.getInputStream().readAllBytes()).trim();
      }
    } catch (IOException | InterruptedException e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
    }
    return "unknown";
  }


}
