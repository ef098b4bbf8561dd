package dev.distillery.storage;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;

/**
 * Where an artifact lives: an absolute URI on any file system Hadoop serves ({@code file:},
 * {@code hdfs:}, {@code s3a:} with {@code hadoop-aws} on the classpath). Every file Distillery
 * itself reads or writes (manifests, tokenizers, models, checkpoints, logs, reports) goes through
 * this one type, so {@code hdfs:///runs/x} means the same on the driver and on every executor;
 * Parquet is read and written by Spark, which resolves paths the same way.
 *
 * <p>A path without a scheme is qualified against Hadoop's default file system, as Spark does for
 * Parquet ({@code fs.defaultFS}; the local file system unless the cluster says otherwise), so a
 * relative {@code runs/demo} is {@code file:/<cwd>/runs/demo} on a laptop. Local files go through
 * Hadoop's raw local file system: no {@code .crc} files beside them.
 *
 * <p>Replacing writes are atomic where the file system allows: a file is written under a hidden
 * temporary name beside it and renamed over the old one (atomic on local disks and HDFS, a copy on
 * S3). Libraries that need a local file (DL4J's model zip, ONNX Runtime) read a {@link #localCopy}
 * kept in Spark's scratch space, and write to a {@link Scratch} directory that is then {@link
 * #replaceWith uploaded}.
 *
 * <p>Serializable (a URI string), so a Spark task can carry one to the executors.
 */
public final class Location implements Serializable, Comparable<Location> {
  private static final long serialVersionUID = 1L;
  private final String uri;

  private Location(String uri) {
    this.uri = uri;
  }

  /** A path or URI as a user wrote it; a path without a scheme is qualified against the default file system. */
  public static Location of(String pathOrUri) {
    if (pathOrUri == null || pathOrUri.isBlank()) {
      throw new IllegalArgumentException("Cannot use a location: it is empty");
    }
    Path p = new Path(pathOrUri);
    try {
      URI u = p.toUri();
      if (u.getScheme() == null) {
        return new Location(FileSystem.get(Hadoop.conf()).makeQualified(p).toString());
      }
      return new Location(p.getFileSystem(Hadoop.conf()).makeQualified(p).toString());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot use a location: its file system is not reachable (" + e.getMessage()
          + "): " + pathOrUri, e);
    }
  }

  /** A local file or directory. */
  public static Location of(java.nio.file.Path local) {
    return new Location(new Path("file", null, local.toAbsolutePath().normalize().toString()).toString());
  }

  /** The absolute URI, e.g. {@code hdfs://namenode:8020/runs/demo/teacher} or {@code file:/home/me/runs/demo}. */
  public String uri() {
    return uri;
  }

  /** For messages: a local location as its plain path ({@code /home/me/runs/demo}), any other as its URI. */
  @Override
  public String toString() {
    return isLocal() ? localPath().toString() : uri;
  }

  /** Whether this is on the local file system of the JVM reading it. */
  public boolean isLocal() {
    return "file".equals(hadoopPath().toUri().getScheme());
  }

  /** The local path of a {@code file:} location. */
  public java.nio.file.Path localPath() {
    if (!isLocal()) {
      throw new IllegalStateException("Cannot use a remote location as a local path: " + uri);
    }
    return java.nio.file.Path.of(hadoopPath().toUri());
  }

  public Location resolve(String relative) {
    return new Location(new Path(hadoopPath(), relative).toString());
  }

  /** The directory holding this one; the root's parent is the root. */
  public Location parent() {
    Path parent = hadoopPath().getParent();
    return parent == null ? this : new Location(parent.toString());
  }

  public Location sibling(String name) {
    return parent().resolve(name);
  }

  /** The last path segment ({@code teacher} for {@code hdfs:///runs/teacher}). */
  public String name() {
    return hadoopPath().getName();
  }

  /** Whether {@code other} is this location or lies under it. */
  public boolean contains(Location other) {
    return other.uri.equals(uri) || other.uri.startsWith(uri.endsWith("/") ? uri : uri + "/");
  }

  public boolean exists() throws IOException {
    return fs().exists(hadoopPath());
  }

  /** Whether anything exists here, reading the path as a glob ({@code corpus/*.jsonl}) as Spark does. */
  public boolean matchesAny() throws IOException {
    FileStatus[] matches = fs().globStatus(hadoopPath());
    return matches != null && matches.length > 0;
  }

  public boolean isFile() throws IOException {
    FileStatus s = status();
    return s != null && s.isFile();
  }

  public boolean isDirectory() throws IOException {
    FileStatus s = status();
    return s != null && s.isDirectory();
  }

  /** Size in bytes of a file. */
  public long length() throws IOException {
    return fs().getFileStatus(hadoopPath()).getLen();
  }

  /** The entries of a directory sorted by name; empty if it does not exist. */
  public List<Location> list() throws IOException {
    FileStatus[] entries;
    try {
      entries = fs().listStatus(hadoopPath());
    } catch (FileNotFoundException e) {
      return List.of();
    }
    return Arrays.stream(entries).map(s -> new Location(s.getPath().toString())).sorted().toList();
  }

  /** Every file under this directory, depth first, sorted by URI; empty if it does not exist. */
  public List<Location> files() throws IOException {
    List<Location> out = new ArrayList<>();
    if (!exists()) {
      return out;
    }
    var it = fs().listFiles(hadoopPath(), true);
    while (it.hasNext()) {
      out.add(new Location(it.next().getPath().toString()));
    }
    out.sort(Comparator.naturalOrder());
    return out;
  }

  /** This location's path relative to {@code dir}, which must contain it ({@code shard=3/part-0.parquet}). */
  public String relativeTo(Location dir) {
    if (!dir.contains(this) || dir.equals(this)) {
      throw new IllegalArgumentException("Cannot relativize: " + uri + " is not under " + dir);
    }
    String base = dir.uri.endsWith("/") ? dir.uri : dir.uri + "/";
    return uri.substring(base.length());
  }

  public InputStream open() throws IOException {
    return fs().open(hadoopPath());
  }

  public byte[] readBytes() throws IOException {
    try (InputStream in = open()) {
      return in.readAllBytes();
    }
  }

  public String readString() throws IOException {
    return new String(readBytes(), StandardCharsets.UTF_8);
  }

  /** The lines of a text file, without line ends; empty if the file does not exist. */
  public List<String> readLines() throws IOException {
    if (!exists()) {
      return List.of();
    }
    try (var reader = new java.io.BufferedReader(new java.io.InputStreamReader(open(), StandardCharsets.UTF_8))) {
      return reader.lines().toList();
    }
  }

  /** Replaces the file with {@code bytes} atomically (a temporary sibling renamed over it); creates parents. */
  public void write(byte[] bytes) throws IOException {
    Location tmp = temporarySibling();
    try (OutputStream out = tmp.fs().create(tmp.hadoopPath(), true)) {
      out.write(bytes);
    }
    tmp.renameOver(this);
  }

  public void writeString(String text) throws IOException {
    write(text.getBytes(StandardCharsets.UTF_8));
  }

  /** Writes whatever {@code writer} writes to a stream, atomically as {@link #write}. */
  public void write(StreamWriter writer) throws IOException {
    Location tmp = temporarySibling();
    try (OutputStream out = tmp.fs().create(tmp.hadoopPath(), true)) {
      writer.write(out);
    }
    tmp.renameOver(this);
  }

  /** Writes {@code value} as indented JSON ({@link dev.distillery.util.Json#MAPPER}: NaN as null), atomically. */
  public void writeJson(Object value) throws IOException {
    write(dev.distillery.util.Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(value));
  }

  /** Something that writes to a stream it does not close. */
  @FunctionalInterface
  public interface StreamWriter {
    void write(OutputStream out) throws IOException;
  }

  /**
   * Adds one line (a line end is added). A local file is appended to; a remote one is rewritten
   * whole through a temporary file (HDFS append needs a healthy pipeline per block, S3 has none;
   * the logs written this way are a line per checkpoint or epoch).
   */
  public void appendLine(String line) throws IOException {
    byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);
    if (isLocal()) {
      java.nio.file.Path p = localPath();
      Files.createDirectories(p.getParent());
      Files.write(p, bytes, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
      return;
    }
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    if (exists()) {
      all.write(readBytes());
    }
    all.write(bytes);
    write(all.toByteArray());
  }

  public void mkdirs() throws IOException {
    if (!fs().mkdirs(hadoopPath())) {
      throw new IOException("Cannot create directory: " + uri);
    }
  }

  /** Deletes this file or directory tree; returns whether anything was there. */
  public boolean delete() throws IOException {
    return fs().delete(hadoopPath(), true);
  }

  /**
   * Renames this file or directory to {@code target}, which must not exist (one atomic step on
   * local disks and HDFS).
   */
  public void renameTo(Location target) throws IOException {
    if (!fs().rename(hadoopPath(), target.hadoopPath())) {
      throw new IOException("Cannot rename " + uri + " to " + target + " (the target exists, or its parent is missing)");
    }
  }

  /** Renames this file over {@code target}, replacing it in one step where the file system can. */
  private void renameOver(Location target) throws IOException {
    if (isLocal()) {
      Files.move(localPath(), target.localPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } else {
      FileContext.getFileContext(hadoopPath().toUri(), Hadoop.conf())
          .rename(hadoopPath(), target.hadoopPath(), Options.Rename.OVERWRITE);
    }
  }

  /** A hidden name beside this one, unique to the call: {@code .NAME.tmp-1a2b3c4d}. */
  public Location temporarySibling() {
    return sibling("." + name() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
  }

  /**
   * A local copy of this file or directory to read: the location itself when it is local, else a
   * copy in Spark's scratch space ({@link Scratch}), made once per JVM and reused while the remote
   * files keep their sizes and modification times (an executor running many tasks downloads a
   * teacher once).
   */
  public java.nio.file.Path localCopy() throws IOException {
    if (isLocal()) {
      return localPath();
    }
    return Scratch.cached(this);
  }

  /**
   * Replaces this file or directory with a local one: copied to a hidden sibling, then renamed into
   * place, so readers see the old tree or the new one, never half of it (on S3: a copy, not atomic).
   */
  public void replaceWith(java.nio.file.Path local) throws IOException {
    Location tmp = temporarySibling();
    FileSystem fs = fs();
    fs.copyFromLocalFile(false, true, new Path(local.toUri()), tmp.hadoopPath());
    if (exists()) {
      Location aside = sibling("." + name() + ".replaced-" + UUID.randomUUID().toString().substring(0, 8));
      renameTo(aside);
      tmp.renameTo(this);
      aside.delete();
    } else {
      parent().mkdirs();
      tmp.renameTo(this);
    }
  }

  /** Copies this remote file or tree to a local path (which must not exist). */
  void copyTo(java.nio.file.Path local) throws IOException {
    fs().copyToLocalFile(false, hadoopPath(), new Path(local.toUri()), true);
  }

  /** A fingerprint of what is there now: every file's path, size and modification time. */
  String listingSignature() throws IOException {
    StringBuilder s = new StringBuilder();
    FileStatus self = fs().getFileStatus(hadoopPath());
    if (self.isFile()) {
      return self.getLen() + ":" + self.getModificationTime();
    }
    var it = fs().listFiles(hadoopPath(), true);
    List<String> entries = new ArrayList<>();
    while (it.hasNext()) {
      var f = it.next();
      entries.add(f.getPath() + ":" + f.getLen() + ":" + f.getModificationTime());
    }
    entries.sort(Comparator.naturalOrder());
    entries.forEach(e -> s.append(e).append('\n'));
    return s.toString();
  }

  /** Opens a file for writing in place (no rename): for streams a library writes once, such as a Parquet file. */
  public FSDataOutputStream create() throws IOException {
    return fs().create(hadoopPath(), true);
  }

  private FileStatus status() throws IOException {
    try {
      return fs().getFileStatus(hadoopPath());
    } catch (FileNotFoundException e) {
      return null;
    }
  }

  public Path hadoopPath() {
    return new Path(uri);
  }

  /** The file system serving this location; local files go through the raw one (no checksum files). */
  public FileSystem fs() throws IOException {
    FileSystem fs = hadoopPath().getFileSystem(Hadoop.conf());
    return fs instanceof org.apache.hadoop.fs.LocalFileSystem local ? local.getRawFileSystem() : fs;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Location l && l.uri.equals(uri);
  }

  @Override
  public int hashCode() {
    return uri.hashCode();
  }

  @Override
  public int compareTo(Location o) {
    return uri.compareTo(o.uri);
  }

  /** The Hadoop configuration Spark uses: the active session's, or built from an executor's Spark conf. */
  static final class Hadoop {
    private static volatile Object source;
    private static volatile Configuration cached;

    private Hadoop() {}

    static Configuration conf() {
      var session = org.apache.spark.sql.SparkSession.getActiveSession();
      if (session.isEmpty() && org.apache.spark.TaskContext.get() == null) {
        session = org.apache.spark.sql.SparkSession.getDefaultSession();
      }
      if (session.isDefined()) {
        return session.get().sparkContext().hadoopConfiguration();
      }
      var env = org.apache.spark.SparkEnv.get();
      Object key = env == null ? Hadoop.class : env.conf();
      if (cached == null || source != key) {
        Configuration c = new Configuration();
        if (env != null) {
          // What Spark does for executors: spark.hadoop.X=v becomes X=v.
          for (scala.Tuple2<String, String> kv : env.conf().getAll()) {
            if (kv._1().startsWith("spark.hadoop.")) {
              c.set(kv._1().substring("spark.hadoop.".length()), kv._2());
            }
          }
        }
        cached = c;
        source = key;
      }
      return cached;
    }
  }
}
