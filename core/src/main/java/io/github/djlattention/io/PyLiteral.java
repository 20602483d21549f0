package io.github.djlattention.io;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict parser for the subset of Python literals found in {@code .npy} headers: dicts with
 * string keys, tuples, lists, strings, integers, {@code True}, {@code False} and {@code None}.
 *
 * <p>Values map to {@link Map} (dict, insertion order), {@link Tuple}, {@link List}, {@link
 * String}, {@link BigInteger}, {@link Boolean} and {@link #NONE}. Anything else, duplicate dict
 * keys, or text after the literal fails with an {@link IllegalArgumentException} that quotes the
 * position.
 */
final class PyLiteral {
  /** Python's {@code None}. */
  static final Object NONE = new Object();

  /** A Python tuple; distinct from a list because {@code shape} must be a tuple. */
  record Tuple(List<Object> items) {}

  private final String text;
  private final long maxDepth = InputLimits.Limit.NESTING.get();
  private final long maxDigits = InputLimits.Limit.INTEGER_DIGITS.get();
  private int pos;
  private int depth;

  private PyLiteral(String text) {
    this.text = text;
  }

  /**
   * Parses one literal that spans the whole text, apart from surrounding whitespace.
   *
   * <p>Containers may nest at most {@link InputLimits.Limit#NESTING} levels deep and integers have
   * at most {@link InputLimits.Limit#INTEGER_DIGITS} digits, so a hostile header can neither
   * exhaust the stack nor cost quadratic time.
   *
   * @throws IllegalArgumentException if the text is not exactly one supported literal, or exceeds a
   *     limit
   */
  static Object parse(String text) {
    PyLiteral parser = new PyLiteral(text);
    Object value = parser.value();
    parser.skipWhitespace();
    if (parser.pos != text.length()) {
      throw parser.error("unexpected text after the literal");
    }
    return value;
  }

  private Object value() {
    skipWhitespace();
    if (pos >= text.length()) {
      throw error("unexpected end of header");
    }
    char c = text.charAt(pos);
    switch (c) {
      case '{':
        enter();
        Map<String, Object> dict = dict();
        depth--;
        return dict;
      case '(':
        enter();
        Tuple tuple = new Tuple(sequence('(', ')', true));
        depth--;
        return tuple;
      case '[':
        enter();
        List<Object> list = sequence('[', ']', false);
        depth--;
        return list;
      case '\'':
      case '"':
        return string();
      default:
        if (c == '-' || c == '+' || Character.isDigit(c)) {
          return integer();
        }
        return keyword();
    }
  }

  /** Counts one more open container; refuses one past the nesting limit before descending. */
  private void enter() {
    if (++depth > maxDepth) {
      throw InputLimits.Limit.NESTING.exceeded(
          "containers nested " + depth + " deep at column " + (pos + 1));
    }
  }

  private Map<String, Object> dict() {
    Map<String, Object> map = new LinkedHashMap<>();
    pos++; // '{'
    while (true) {
      skipWhitespace();
      if (consume('}')) {
        return map;
      }
      int keyPos = pos;
      Object key = value();
      if (!(key instanceof String)) {
        pos = keyPos;
        throw error("dict keys must be strings");
      }
      skipWhitespace();
      expect(':');
      Object item = value();
      if (map.put((String) key, item) != null) {
        pos = keyPos;
        throw error("duplicate key '" + key + "'");
      }
      skipWhitespace();
      if (!consume(',')) {
        skipWhitespace();
        expect('}');
        return map;
      }
    }
  }

  private List<Object> sequence(char open, char close, boolean tuple) {
    List<Object> items = new ArrayList<>();
    pos++; // open
    boolean sawComma = false;
    while (true) {
      skipWhitespace();
      if (consume(close)) {
        break;
      }
      items.add(value());
      skipWhitespace();
      sawComma = consume(',');
      if (!sawComma) {
        skipWhitespace();
        expect(close);
        break;
      }
    }
    if (tuple && items.size() == 1 && !sawComma) {
      // "(3)" is the integer 3 in Python, not a tuple.
      throw error("parenthesized value " + items.get(0) + " is not a tuple (write (n,))");
    }
    return items;
  }

  private String string() {
    char quote = text.charAt(pos++);
    StringBuilder out = new StringBuilder();
    while (pos < text.length()) {
      char c = text.charAt(pos++);
      if (c == quote) {
        return out.toString();
      }
      if (c == '\n') {
        break;
      }
      if (c == '\\') {
        if (pos >= text.length()) {
          break;
        }
        char escaped = text.charAt(pos++);
        switch (escaped) {
          case '\\':
          case '\'':
          case '"':
            out.append(escaped);
            break;
          case 'n':
            out.append('\n');
            break;
          case 't':
            out.append('\t');
            break;
          default:
            pos -= 2;
            throw error("unsupported escape \\" + escaped + " in string");
        }
      } else {
        out.append(c);
      }
    }
    throw error("unterminated string");
  }

  private BigInteger integer() {
    int start = pos;
    if (text.charAt(pos) == '-' || text.charAt(pos) == '+') {
      pos++;
    }
    int digits = pos;
    while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
      pos++;
    }
    if (pos == digits) {
      pos = start;
      throw error("expected a digit");
    }
    if (pos - digits > maxDigits) {
      throw InputLimits.Limit.INTEGER_DIGITS.exceeded(
          "an integer of " + (pos - digits) + " digits at column " + (digits + 1));
    }
    if (pos < text.length() && Character.isLetter(text.charAt(pos))) {
      throw error("unexpected '" + text.charAt(pos) + "' after integer");
    }
    return new BigInteger(text.substring(start, pos));
  }

  private Object keyword() {
    int start = pos;
    while (pos < text.length() && Character.isLetterOrDigit(text.charAt(pos))) {
      pos++;
    }
    String word = text.substring(start, pos);
    switch (word) {
      case "True":
        return Boolean.TRUE;
      case "False":
        return Boolean.FALSE;
      case "None":
        return NONE;
      default:
        pos = start;
        throw error(
            word.isEmpty()
                ? "unexpected '" + text.charAt(pos) + "'"
                : "unexpected name '" + word + "'");
    }
  }

  private void skipWhitespace() {
    while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) {
      pos++;
    }
  }

  private boolean consume(char c) {
    if (pos < text.length() && text.charAt(pos) == c) {
      pos++;
      return true;
    }
    return false;
  }

  private void expect(char c) {
    if (!consume(c)) {
      throw error(
          pos < text.length()
              ? "expected '" + c + "' but found '" + text.charAt(pos) + "'"
              : "expected '" + c + "' but the header ended");
    }
  }

  private IllegalArgumentException error(String problem) {
    return new IllegalArgumentException(problem + " at column " + (pos + 1));
  }
}
