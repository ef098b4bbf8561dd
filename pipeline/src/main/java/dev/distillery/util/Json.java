package dev.distillery.util;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;

/**
 * The one JSON writer for what Distillery writes (summaries, provenance, metrics and evaluation lines):
 * a non-finite number (a NaN loss, an infinite perplexity) is written as {@code null}, which every JSON
 * reader types as a missing number; Jackson's default, the string {@code "NaN"}, makes DuckDB type the
 * whole column as JSON text.
 */
public final class Json {
  private Json() {}

  /** Thread-safe once configured, as Jackson's mappers are. */
  public static final ObjectMapper MAPPER = new ObjectMapper().registerModule(new SimpleModule("non-finite-as-null")
      .addSerializer(Double.class, new FiniteOrNull<>())
      .addSerializer(double.class, new FiniteOrNull<>())
      .addSerializer(Float.class, new FiniteOrNull<>())
      .addSerializer(float.class, new FiniteOrNull<>()));

  private static final class FiniteOrNull<T extends Number> extends JsonSerializer<T> {
    @Override
    public void serialize(T value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
      double v = value.doubleValue();
      if (!Double.isFinite(v)) {
        gen.writeNull();
      } else if (value instanceof Float f) {
        gen.writeNumber(f);
      } else {
        gen.writeNumber(v);
      }
    }
  }
}
