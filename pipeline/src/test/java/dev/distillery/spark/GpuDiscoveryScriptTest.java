package dev.distillery.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code conf/gpu-discovery.sh}, the script Spark runs to find an executor's GPUs, run for real with
 * an {@code nvidia-smi} on its PATH that answers, one that fails, and none.
 */
class GpuDiscoveryScriptTest {
  static final Path SCRIPT = Path.of("..", "conf", "gpu-discovery.sh").toAbsolutePath().normalize();

  @TempDir Path bin;

  record Run(int exit, String out, String err) {}

  Run run(String nvidiaSmi) throws IOException, InterruptedException {
    if (nvidiaSmi != null) {
      Path fake = bin.resolve("nvidia-smi");
      Files.writeString(fake, "#!/bin/sh\n" + nvidiaSmi + "\n");
      Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    ProcessBuilder pb = new ProcessBuilder("bash", SCRIPT.toString());
    // Only the fake and the basic tools: a real nvidia-smi on this machine must not answer.
    pb.environment().put("PATH", bin + ":/usr/bin:/bin");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    return new Run(p.waitFor(), out, err);
  }

  @Test
  void listsTheIndicesNvidiaSmiReports() throws Exception {
    Run r = run("echo 0; echo ' 1'");
    assertEquals(0, r.exit(), r.err());
    assertEquals("{\"name\":\"gpu\",\"addresses\":[\"0\",\"1\"]}", r.out());
  }

  @Test
  void aFailingNvidiaSmiGivesNoAddressesAndSaysWhyOnStderr() throws Exception {
    Run r = run("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\" >&2; exit 9");
    assertEquals(0, r.exit(), "Spark needs the JSON, not an exit status: " + r.err());
    assertEquals("{\"name\":\"gpu\",\"addresses\":[]}", r.out());
    assertTrue(r.err().contains("nvidia-smi failed (exit 9)") && r.err().contains("couldn't communicate"), r.err());
  }

  @Test
  void noNvidiaSmiGivesNoAddresses() throws Exception {
    Run r = run(null);
    assertEquals(0, r.exit(), r.err());
    assertEquals("{\"name\":\"gpu\",\"addresses\":[]}", r.out());
  }
}
