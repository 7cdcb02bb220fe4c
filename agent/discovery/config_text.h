// What every proxy source needs to read configuration text: a file with a
// size bound (telling "missing" from "unreadable"), comma-style lists, and
// quoted strings.
#ifndef AGENT_DISCOVERY_CONFIG_TEXT_H_
#define AGENT_DISCOVERY_CONFIG_TEXT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace relayscope::agent {

// At most `max_bytes` of `path`; std::nullopt if it cannot be read, with
// *missing (when given) set if it does not exist.
std::optional<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes,
                                           bool* missing = nullptr);

// The items of `text` split at any of `separators`, each trimmed of ASCII
// whitespace; empty items dropped.
std::vector<std::string> SplitList(absl::string_view text, const char* separators);

// How a quoted string escapes: kLiteral takes the character after a
// backslash as is (regedit, GVariant as gsettings prints it); kC also
// turns \n and \t into newline and tab (prefs.js).
enum class Escapes { kLiteral, kC };

// Consumes a string quoted with one of `quotes` from the front of *text
// into *out. False (unterminated, or not quoted) leaves *text unchanged.
bool ConsumeQuoted(absl::string_view* text, std::string* out, absl::string_view quotes,
                   Escapes escapes);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_CONFIG_TEXT_H_
