#include "agent/discovery/config_text.h"

#include <cerrno>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/utf16.h"

#ifdef _WIN32
#include <windows.h>
#endif

namespace relayscope::agent {

std::optional<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes,
                                           bool* missing) {
  if (missing != nullptr) *missing = false;
#ifdef _WIN32
  // Paths are UTF-8 here; fopen would read them in the ANSI code page, and
  // miss a profile under C:\Users\Jürgen.
  std::FILE* file = _wfopen(Utf16(path).c_str(), L"rb");
#else
  std::FILE* file = std::fopen(path.c_str(), "rb");
#endif
  if (file == nullptr) {
    if (missing != nullptr) *missing = errno == ENOENT || errno == ENOTDIR;
    return std::nullopt;
  }
  std::string text(max_bytes, '\0');
  const size_t size = std::fread(text.data(), 1, text.size(), file);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return std::nullopt;
  text.resize(size);
  return text;
}

std::vector<std::string> SplitList(absl::string_view text, const char* separators) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, absl::ByAnyChar(separators))) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

bool ConsumeQuoted(absl::string_view* text, std::string* out, absl::string_view quotes,
                   Escapes escapes) {
  if (text->empty() || quotes.find(text->front()) == absl::string_view::npos) return false;
  const char quote = text->front();
  std::string value;
  for (size_t i = 1; i < text->size(); ++i) {
    const char c = (*text)[i];
    if (c == '\\' && i + 1 < text->size()) {
      const char next = (*text)[++i];
      if (escapes == Escapes::kC && next == 'n') {
        value.push_back('\n');
      } else if (escapes == Escapes::kC && next == 't') {
        value.push_back('\t');
      } else {
        value.push_back(next);
      }
    } else if (c == quote) {
      text->remove_prefix(i + 1);
      out->append(value);
      return true;
    } else {
      value.push_back(c);
    }
  }
  return false;
}

}  // namespace relayscope::agent
