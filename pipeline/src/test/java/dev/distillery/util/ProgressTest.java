package dev.distillery.util;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressTest {
  static final long SECOND = 1_000_000_000L;

  @Test
  void rateAndEtaCountFromTheStartOfTheWorkNotOfTheCommand() {
    AtomicLong clock = new AtomicLong();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Progress p = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), clock::get);
    clock.set(600 * SECOND); // ten minutes of earlier stages (the demo's prepare and first students)
    double start = p.elapsedSeconds();
    clock.set(610 * SECOND);
    p.step(1, 2, 10, 20, 1.5, 5000, start, 0);
    assertEquals("train epoch 1/2 step 10/20 loss 1.5000 tokens/s 500 elapsed 0:00:10 eta 0:00:10",
        bytes.toString(StandardCharsets.UTF_8).trim());
  }

  @Test
  void aResumedRunEstimatesFromItsOwnSteps() {
    AtomicLong clock = new AtomicLong();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Progress p = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), clock::get);
    clock.set(5 * SECOND);
    // 100 steps were done before the resume; 10 more in 5 s leave 90 at 2 steps/s.
    p.step(2, 2, 110, 200, 1.0, 1000, 0, 100);
    assertEquals("train epoch 2/2 step 110/200 loss 1.0000 tokens/s 200 elapsed 0:00:05 eta 0:00:45",
        bytes.toString(StandardCharsets.UTF_8).trim());
  }
}
