package dev.distillery.jobs;

import dev.distillery.config.ConfigException;
import dev.distillery.errors.DataException;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/**
 * The one entry point: {@code bin/distillery <command>} and
 * {@code spark-submit --class dev.distillery.jobs.Distillery <jobs jar> <command>}. Exit codes: 0 ok,
 * 1 failure, 2 bad usage or configuration.
 */
@Command(name = "distillery", mixinStandardHelpOptions = true, version = "distillery 0.1.0",
    description = "Distill large sequence models into small ones on Spark.",
    subcommands = {TrainCommand.class, EvaluateCommand.class, PrepareCommand.class, DistillCommand.class,
        InspectCommand.class, ExportCommand.class, DemoCommand.class})
public final class Distillery implements Runnable {
  public static final int OK = 0;
  public static final int FAILURE = 1;
  public static final int USAGE = 2;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Cannot run: missing command");
  }

  public static void main(String[] args) {
    int code = execute(args);
    // Stop Spark before exiting: on a local-cluster master, System.exit's shutdown hooks would otherwise
    // stop the workers before the application, and the master would report a finished job as FAILED.
    org.apache.spark.sql.SparkSession.getDefaultSession().foreach(spark -> {
      spark.stop();
      return null;
    });
    // Spark and ND4J leave non-daemon threads behind; exit explicitly so scripts see the code.
    System.exit(code);
  }

  /** Runs a command and returns its exit code (for tests and embedding). */
  public static int execute(String... args) {
    return execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
  }

  /** Runs a command with the given output and error writers; returns its exit code. */
  public static int execute(PrintWriter out, PrintWriter errors, String... args) {
    boolean verbose = java.util.Arrays.asList(args).contains(VERBOSE);
    CommandLine cli = new CommandLine(new Distillery());
    cli.setOut(out);
    cli.setErr(errors);
    cli.setExitCodeExceptionMapper(
        e -> e instanceof ConfigException || e instanceof CommandLine.ParameterException ? USAGE : FAILURE);
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      PrintWriter err = commandLine.getErr();
      if (e instanceof CommandLine.ParameterException pe) {
        err.println("distillery: " + pe.getMessage());
        pe.getCommandLine().usage(err);
        err.flush();
        return USAGE;
      }
      Throwable root = unwrap(e);
      err.println("distillery: " + oneLine(root, commandLine.getCommandName()));
      if (verbose) {
        e.printStackTrace(err);
      } else if (!(root instanceof ConfigException || root instanceof DataException)) {
        err.println("distillery: (the stack trace: run again with " + VERBOSE + ")");
      }
      err.flush();
      return root instanceof ConfigException ? USAGE : FAILURE;
    });
    return cli.execute(args);
  }

  /** The flag that prints a failure's stack trace; every command takes it. */
  static final String VERBOSE = "--verbose";

  /**
   * What went wrong, in one line: the first "Cannot ..." message behind {@code e} (Distillery's own
   * voice, which names the file), else the innermost library error prefixed with the command.
   */
  static String oneLine(Throwable e, String command) {
    Throwable innermost = e;
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = t.getMessage();
      if (m != null && m.startsWith("Cannot ")) {
        return firstLine(m);
      }
      innermost = t;
    }
    return "Cannot " + command + ": " + innermost.getClass().getSimpleName()
        + (innermost.getMessage() == null ? "" : ": " + firstLine(innermost.getMessage()));
  }

  private static String firstLine(String message) {
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }

  /** The ConfigException or DataException behind {@code e} (Spark wraps task failures), else {@code e}. */
  private static Throwable unwrap(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ConfigException || t instanceof DataException) {
        return t;
      }
    }
    return e;
  }
}
