#include "lib/common/json_escape.h"

namespace hollowtrees {

void AppendJsonEscaped(std::string& out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size());
  size_t run = 0;  // start of the pending run that needs no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, 6);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void AppendJsonString(std::string& out, absl::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  AppendJsonEscaped(out, s);
  out += '"';
}

std::string JsonString(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

}  // namespace hollowtrees
