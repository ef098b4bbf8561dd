package dev.distillery.teacher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.CausalModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.spark.Device;
import dev.distillery.testing.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** On the CPU, tasks that score at the same time each get their own copy of the teacher, loaded once. */
class TeacherCacheTest {
  @Test
  void overlappingTasksGetTheirOwnCopiesOfOneLoadedTeacher(@TempDir Path dir) throws Exception {
    DistilleryConfig config = TinyModels.config();
    ModelBundle.save(dir, TinyModels.model(config, TinyModels.tokenizer(300)), config, Map.of());
    int loadsBefore = TeacherCache.loads();
    CausalModel first;
    CausalModel second;
    try (TeacherCache.Lease a = TeacherCache.borrow(dir, Device.CPU, 64);
        TeacherCache.Lease b = TeacherCache.borrow(dir, Device.CPU, 64)) {
      first = a.model();
      second = b.model();
      assertNotSame(first, second, "two tasks at once must not share one (not thread-safe) model");
      int[] row = {2, 40, 41, 4, 50};
      assertArrayEquals(first.logProbs(List.of(row)).data().asFloat(), second.logProbs(List.of(row)).data().asFloat(),
          "a copy must compute what the loaded teacher computes");
    }
    // Returned copies are lent again: a later task makes no third copy and loads nothing.
    try (TeacherCache.Lease c = TeacherCache.borrow(dir, Device.CPU, 64)) {
      CausalModel m = c.model();
      assertTrue(m == first || m == second, "an idle copy is lent again");
    }
    assertEquals(loadsBefore + 1, TeacherCache.loads());
  }

  @Test
  void aModelIsLentToOneTaskAtATime(@TempDir Path dir) throws Exception {
    DistilleryConfig config = TinyModels.config();
    ModelBundle.save(dir, TinyModels.model(config, TinyModels.tokenizer(300)), config, Map.of());
    CausalModel lent;
    try (TeacherCache.Lease a = TeacherCache.borrow(dir, Device.CPU, 64)) {
      lent = a.model();
    }
    try (TeacherCache.Lease b = TeacherCache.borrow(dir, Device.CPU, 64)) {
      assertSame(lent, b.model(), "an idle copy is reused");
      try (TeacherCache.Lease c = TeacherCache.borrow(dir, Device.CPU, 64)) {
        assertNotSame(b.model(), c.model());
      }
    }
  }
}
