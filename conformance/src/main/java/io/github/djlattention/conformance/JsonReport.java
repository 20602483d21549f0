package io.github.djlattention.conformance;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import java.util.List;

/**
 * Writes suite results as JSON: a top-level {@code suites} list of objects with {@code name},
 * {@code passed}, {@code failed}, {@code skipped}, {@code total} and {@code cases}, plus {@code
 * allPassed} and the tolerances used. Each case lists its implementations' comparisons and, under
 * {@code notRun}, the implementations that declined it with their reasons.
 */
public final class JsonReport {

  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private JsonReport() {}

  /**
   * Renders the report.
   *
   * @param suites the suite results
   * @return the JSON text
   */
  public static String render(List<SuiteResult> suites) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("allPassed", suites.stream().allMatch(s -> s.failed() == 0));
    ObjectNode tolerances = root.putObject("tolerances");
    tolerance(tolerances.putObject("float32"), Tolerances.FLOAT32);
    tolerance(tolerances.putObject("float16"), Tolerances.FLOAT16);
    tolerance(tolerances.putObject("float64"), Tolerances.FLOAT64);
    ArrayNode suiteArray = root.putArray("suites");
    for (SuiteResult suite : suites) {
      ObjectNode node = suiteArray.addObject();
      node.put("name", suite.name());
      node.put("oracle", suite.oracle());
      node.put("project", suite.project());
      ArrayNode projects = node.putArray("projectImplementations");
      suite.projects().forEach(projects::add);
      ArrayNode others = node.putArray("others");
      suite.others().forEach(others::add);
      node.put("passed", suite.passed());
      node.put("failed", suite.failed());
      node.put("skipped", suite.skipped());
      node.put("total", suite.total());
      ObjectNode agreement = node.putObject("agreement");
      ObjectNode ran = node.putObject("ran");
      for (String implementation : suite.implementations()) {
        agreement.put(implementation, suite.agreeing(implementation));
        ran.put(implementation, suite.ran(implementation));
      }
      ArrayNode cases = node.putArray("cases");
      suite.cases().forEach(c -> caseNode(cases.addObject(), c));
    }
    try {
      return MAPPER.writeValueAsString(root);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cannot render JSON report: " + e.getMessage(), e);
    }
  }

  private static void tolerance(ObjectNode node, Tolerance tolerance) {
    node.put("rtol", tolerance.rtol());
    node.put("atol", tolerance.atol());
  }

  private static void caseNode(ObjectNode node, CaseResult c) {
    node.put("name", c.name());
    node.put("group", c.group());
    node.put("dtype", c.dataType());
    node.put("passed", c.verdict().projectPasses());
    node.put("verdict", c.verdict().kind().name());
    ArrayNode deviating = node.putArray("deviating");
    c.verdict().deviating().forEach(deviating::add);
    node.put("summary", c.verdict().summary());
    if (!c.notRun().isEmpty()) {
      ObjectNode notRun = node.putObject("notRun");
      c.notRun().forEach(notRun::put);
    }
    ObjectNode implementations = node.putObject("implementations");
    for (ImplementationResult r : c.all()) {
      ObjectNode impl = implementations.putObject(r.implementation());
      impl.put("agrees", r.agrees());
      r.error().ifPresent(e -> impl.put("error", e));
      number(impl, "maxAbsError", r.maxAbsError());
      number(impl, "maxRelError", r.maxRelError());
      r.worst()
          .ifPresent(
              w -> {
                impl.put("worstOutput", w.output());
                ArrayNode index = impl.putArray("worstIndex");
                for (long i : w.elements().worst().index()) {
                  index.add(i);
                }
              });
      ObjectNode outputs = impl.putObject("outputs");
      for (Comparison comparison : r.comparisons()) {
        ObjectNode out = outputs.putObject(comparison.output());
        out.put("dtype", comparison.dataType());
        out.put("agrees", comparison.agrees());
        ElementComparison elements = comparison.elements();
        number(out, "maxAbsError", elements.statistics().maxAbsError());
        number(out, "maxRelError", elements.statistics().maxRelError());
        out.put("mismatched", elements.mismatched());
        ArrayNode index = out.putArray("worstIndex");
        for (long i : elements.worst().index()) {
          index.add(i);
        }
        number(out, "worstExpected", elements.worst().expected());
        number(out, "worstActual", elements.worst().actual());
        out.put("rtol", comparison.tolerance().rtol());
        out.put("atol", comparison.tolerance().atol());
        if (!comparison.note().isEmpty()) {
          out.put("note", comparison.note());
        }
      }
    }
  }

  /** JSON has no NaN or infinity: those become strings. */
  private static void number(ObjectNode node, String field, double value) {
    if (Double.isFinite(value)) {
      node.put(field, value);
    } else {
      node.put(field, String.valueOf(value));
    }
  }
}
