package dev.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The README is part of the product: it must name every config key and CI's test command. */
class DocumentationTest {
  @Test
  void readmeDocumentsEveryConfigKey() throws Exception {
    String readme = Files.readString(DistilleryCliTest.repo("README.md"));
    var reference = ConfigFactory.parseResources("reference.conf").getConfig("distillery");
    for (Map.Entry<String, ?> e : reference.entrySet()) {
      assertTrue(readme.contains("`" + e.getKey() + "`"), "README does not document " + e.getKey());
    }
  }

  @Test
  void ciRunsTheTestCommandTheReadmeGives() throws Exception {
    String readme = Files.readString(DistilleryCliTest.repo("README.md"));
    String ci = Files.readString(DistilleryCliTest.repo(".ci/run"));
    assertTrue(readme.contains("mvn -B verify            # the tests"), "README test command changed");
    assertTrue(ci.lines().anyMatch(l -> l.strip().equals("mvn -B verify")), ".ci/run does not run mvn -B verify");
  }
}
