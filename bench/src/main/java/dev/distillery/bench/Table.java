package dev.distillery.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** A Markdown table printed to stdout and saved under bench/results with the machine and command. */
final class Table {
  private final String title;
  private final List<String> header;
  private final List<List<String>> rows = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();

  Table(String title, String... header) {
    this.title = title;
    this.header = List.of(header);
  }

  void row(Object... cells) {
    List<String> r = new ArrayList<>();
    for (Object c : cells) {
      r.add(c instanceof Double d ? String.format(Locale.ROOT, Math.abs(d) >= 100 ? "%.0f" : "%.4g", d) : String.valueOf(c));
    }
    rows.add(r);
  }

  void note(String line) {
    notes.add(line);
  }

  String render(String command) {
    StringBuilder sb = new StringBuilder();
    sb.append("# ").append(title).append("\n\n");
    sb.append("- date: ").append(LocalDate.now()).append('\n');
    sb.append("- machine: ").append(machine()).append('\n');
    sb.append("- command: `").append(command).append("`\n");
    sb.append("- git commit: ").append(dev.distillery.util.Provenance.gitCommit()).append("\n\n");
    sb.append("| ").append(String.join(" | ", header)).append(" |\n");
    sb.append("|").append("---|".repeat(header.size())).append('\n');
    for (List<String> r : rows) {
      sb.append("| ").append(String.join(" | ", r)).append(" |\n");
    }
    if (!notes.isEmpty()) {
      sb.append('\n');
      for (String n : notes) {
        sb.append("- ").append(n).append('\n');
      }
    }
    return sb.toString();
  }

  void publish(String name, String command) throws IOException {
    String text = render(command);
    System.out.println();
    System.out.println(text);
    Path dir = Path.of("bench", "results");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(name + ".md"), text);
    System.out.println("written to " + dir.resolve(name + ".md"));
  }

  /** The CPU's model name ("unknown CPU" off Linux). */
  static String cpu() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
          .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
    } catch (IOException notLinux) {
      return "unknown CPU";
    }
  }

  static String machine() {
    long mem = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getTotalMemorySize();
    return String.format(Locale.ROOT, "%d cores (%s), %.0f GiB RAM, %s %s, Java %s",
        Runtime.getRuntime().availableProcessors(), cpu(), mem / 1024.0 / 1024 / 1024,
        System.getProperty("os.name"), System.getProperty("os.arch"), System.getProperty("java.version"));
  }
}
