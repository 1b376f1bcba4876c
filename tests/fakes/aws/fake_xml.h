#pragma once

// XML building for the fake AWS's Query-protocol answers (fake_aws.cc,
// fake_sqs.cc).

#include <string>

#include "pugixml.hpp"

namespace hollowtrees::testing::fake_xml {

// Appends <name>text</name> to `parent`.
inline void Add(pugi::xml_node parent, const char* name, const std::string& text) {
  parent.append_child(name).text().set(text.c_str());
}

// The document without indentation or declaration.
inline std::string ToString(const pugi::xml_document& doc) {
  struct Writer : pugi::xml_writer {
    std::string out;
    void write(const void* data, size_t size) override {
      out.append(static_cast<const char*>(data), size);
    }
  } w;
  doc.save(w, "", pugi::format_raw);
  return w.out;
}

}  // namespace hollowtrees::testing::fake_xml
