package dev.distillery;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The library's packages, read from its bytecode: what docs/ARCHITECTURE.md draws must stay true. */
class PackageStructureTest {
  private static final JavaClasses LIBRARY = new ClassFileImporter()
      .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
      .importPackages("dev.distillery");

  @Test
  void packagesHaveNoCycles() {
    slices().matching("dev.distillery.(*)..").should().beFreeOfCycles().check(LIBRARY);
  }

  @Test
  void theLossesDependOnNeitherTheDistillJobNorOnlineKd() {
    com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses()
        .that().resideInAPackage("dev.distillery.loss..")
        .should().dependOnClassesThat().resideInAnyPackage("dev.distillery.distill..", "dev.distillery.okd..")
        .check(LIBRARY);
  }
}
