package dev.distillery.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS for tests: a NameNode and one DataNode in this JVM (Hadoop's {@code MiniDFSCluster}),
 * started on first use and stopped when the JVM exits. Its blocks live under a temporary directory.
 */
public final class TestHdfs {
  private static MiniDFSCluster cluster;

  private TestHdfs() {}

  /** The file system's root URI, e.g. {@code hdfs://localhost:41139}. */
  public static synchronized String uri() {
    if (cluster == null) {
      try {
        Path base = Files.createTempDirectory("distillery-hdfs");
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.toString());
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
          cluster.shutdown(true);
        }));
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot start the test HDFS: " + e.getMessage(), e);
      }
    }
    return cluster.getURI().toString();
  }
}
