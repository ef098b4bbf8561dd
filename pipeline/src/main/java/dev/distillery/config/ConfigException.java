package dev.distillery.config;

/**
 * A configuration or usage error: a bad key, value or argument. The CLI maps it to exit code 2.
 * Messages follow "Cannot &lt;do what&gt;: &lt;why&gt;: &lt;value&gt;".
 */
public final class ConfigException extends IllegalArgumentException {
  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
