package io.github.djlattention.verify;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.onnx.inspect.ModelGraph;

/**
 * The verification as JSON: the run, the settings, and per site its verdict, the graph analysis
 * ({@link SiteJson}) and every comparison, whole and per head.
 */
public final class VerifyJson {

  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private VerifyJson() {}

  /**
   * Renders a report.
   *
   * @param report the report
   * @param settings the settings it ran with
   * @param graph the model's graph (for the weights' shapes), or null
   * @return the JSON text
   */
  public static String render(ModelReport report, VerifySettings settings, ModelGraph graph) {
    try {
      return MAPPER.writeValueAsString(tree(report, settings, graph)) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot render the report as JSON", e);
    }
  }

  /**
   * The report as a JSON tree.
   *
   * @param report the report
   * @param settings the settings it ran with
   * @param graph the model's graph, or null
   * @return the tree
   */
  public static ObjectNode tree(ModelReport report, VerifySettings settings, ModelGraph graph) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("model", report.model());
    root.put("producer", report.producer());
    root.put("inputs", report.inputs());
    root.put("runtime", report.runtime());
    root.put("tapEffect", report.tapEffect());
    root.put("seconds", report.seconds());
    root.put("allAgree", report.allAgree());
    root.put("oracle", SiteChecker.REFERENCE);
    ObjectNode tolerances = root.putObject("settings");
    tolerances.put("coreRtol", settings.coreRtol());
    tolerances.put("coreAtol", settings.coreAtol());
    tolerances.put("sublayerRtol", settings.sublayerRtol());
    tolerances.put("sublayerAtol", settings.sublayerAtol());
    tolerances.put("relFloor", settings.relFloor());
    ArrayNode sites = root.putArray("sites");
    for (SiteResult site : report.sites()) {
      ObjectNode node = sites.addObject();
      node.put("index", site.site().index());
      node.put("layer", site.site().layer());
      node.put("verdict", site.verdict().kind().name());
      ArrayNode deviating = node.putArray("deviating");
      site.verdict().deviating().forEach(deviating::add);
      node.put("summary", site.verdict().summary());
      node.put("shapes", site.shapes());
      if (Double.isNaN(site.scale())) {
        node.putNull("scale");
      } else {
        node.put("scale", site.scale());
      }
      node.put("sublayer", site.sublayer());
      ArrayNode checks = node.putArray("checks");
      for (SiteResult.Check check : site.checks()) {
        ObjectNode c = checks.addObject();
        c.put("implementation", check.implementation());
        c.put("output", check.output());
        c.put("agrees", check.agrees());
        if (check.error() != null) {
          c.put("error", check.error());
          continue;
        }
        c.putNull("error");
        stats(c, check.whole());
        ArrayNode heads = c.putArray("heads");
        for (int h = 0; h < check.perHead().size(); h++) {
          ObjectNode head = heads.addObject();
          head.put("head", h);
          head.put("agrees", check.perHead().get(h).agrees());
          stats(head, check.perHead().get(h));
        }
      }
      node.set("site", SiteJson.site(site.site(), graph));
    }
    return root;
  }

  private static void stats(ObjectNode node, ElementComparison s) {
    number(node, "maxAbs", s.statistics().maxAbsError());
    number(node, "maxRel", s.statistics().maxFlooredRelError());
    number(node, "relFloor", s.statistics().relativeFloor());
    number(node, "p50", s.statistics().absolute().p50());
    number(node, "p90", s.statistics().absolute().p90());
    number(node, "p99", s.statistics().absolute().p99());
    number(node, "cosine", s.statistics().cosineSimilarity());
    ArrayNode index = node.putArray("worstIndex");
    for (long i : s.worst().index()) {
      index.add(i);
    }
    number(node, "worstExpected", s.worst().expected());
    number(node, "worstActual", s.worst().actual());
    node.put("mismatched", s.mismatched());
    node.put("count", s.statistics().elements());
    node.put("rtol", s.tolerance().rtol());
    node.put("atol", s.tolerance().atol());
  }

  /** JSON has no NaN or infinity: those become strings. */
  private static void number(ObjectNode node, String name, double value) {
    if (Double.isFinite(value)) {
      node.put(name, value);
    } else {
      node.put(name, Double.toString(value));
    }
  }
}
