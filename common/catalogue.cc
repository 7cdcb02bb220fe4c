#include "common/catalogue.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/socket.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace relayscope {
namespace {

// Collects text-format parse errors with their line and column, so a typo in
// a catalogue is reported where it is instead of as "parse failed".
class CollectingErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat(line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

bool IsLabelSafe(absl::string_view id, size_t max_len, bool allow_dash) {
  if (id.empty() || id.size() > max_len) return false;
  for (char c : id) {
    if (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_') continue;
    if (allow_dash && c == '-') continue;
    return false;
  }
  return true;
}

bool IsIpLiteral(const std::string& address) {
  unsigned char buf[16];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

// At least one port, each in 1..65535, none twice.
absl::Status ValidatePorts(const google::protobuf::RepeatedField<uint32_t>& list,
                           absl::string_view where) {
  if (list.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": it has no ports"));
  std::set<uint32_t> ports;
  for (uint32_t port : list) {
    if (port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": port ", port, " out of range"));
    }
    if (!ports.insert(port).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate port ", port));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCatalogue(const v1::Catalogue& catalogue) {
  if (catalogue.regions().empty()) {
    return absl::InvalidArgumentError("catalogue has no regions");
  }
  std::set<std::string> region_ids;
  std::set<std::string> relay_ids;
  for (int r = 0; r < catalogue.regions_size(); ++r) {
    const v1::Region& region = catalogue.regions(r);
    const std::string where = absl::StrCat("regions[", r, "]");
    if (!IsLabelSafe(region.id(), 32, /*allow_dash=*/false)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id \"", region.id(), "\" must match [a-z0-9_]{1,32}"));
    }
    if (!region_ids.insert(region.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": duplicate region id \"", region.id(), "\""));
    }
    if (region.relays().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", region.id(), "): region has no relays"));
    }
    for (int i = 0; i < region.relays_size(); ++i) {
      const v1::Relay& relay = region.relays(i);
      const std::string rwhere = absl::StrCat(where, ".relays[", i, "]");
      if (!IsLabelSafe(relay.id(), 48, /*allow_dash=*/true)) {
        return absl::InvalidArgumentError(
            absl::StrCat(rwhere, ": id \"", relay.id(), "\" must match [a-z0-9_-]{1,48}"));
      }
      if (!relay_ids.insert(relay.id()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(rwhere, ": duplicate relay id \"", relay.id(), "\""));
      }
      if (relay.host().empty() && relay.addresses().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(rwhere, " (", relay.id(), "): needs a host or an address"));
      }
      if (!relay.host().empty() && !IsHostName(relay.host())) {
        return absl::InvalidArgumentError(absl::StrCat(rwhere, " (", relay.id(), "): host \"",
                                                       relay.host(), "\" is not a valid DNS name"));
      }
      for (const std::string& address : relay.addresses()) {
        if (!IsIpLiteral(address)) {
          return absl::InvalidArgumentError(absl::StrCat(rwhere, " (", relay.id(), "): address \"",
                                                         address,
                                                         "\" is not an IPv4 or IPv6 literal"));
        }
      }
      if (absl::Status ports =
              ValidatePorts(relay.ports(), absl::StrCat(rwhere, " (", relay.id(), ")"));
          !ports.ok()) {
        return ports;
      }
    }
  }
  for (int d = 0; d < catalogue.downloads_size(); ++d) {
    const v1::DownloadService& service = catalogue.downloads(d);
    const std::string where = absl::StrCat("downloads[", d, "]");
    if (!IsLabelSafe(service.id(), 48, /*allow_dash=*/true)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id \"", service.id(), "\" must match [a-z0-9_-]{1,48}"));
    }
    if (!relay_ids.insert(service.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": id \"", service.id(), "\" is already used by a relay or another download"));
    }
    const std::string dwhere = absl::StrCat(where, " (", service.id(), ")");
    if (region_ids.count(service.region()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(dwhere, ": region \"", service.region(),
                                                     "\" is not a region of this catalogue"));
    }
    if (!IsHostName(service.host())) {
      return absl::InvalidArgumentError(
          absl::StrCat(dwhere, ": host \"", service.host(),
                       "\" must be a DNS name (it is the TLS server name)"));
    }
    for (const std::string& address : service.addresses()) {
      if (!IsIpLiteral(address)) {
        return absl::InvalidArgumentError(
            absl::StrCat(dwhere, ": address \"", address, "\" is not an IPv4 or IPv6 literal"));
      }
    }
    if (absl::Status ports = ValidatePorts(service.ports(), dwhere); !ports.ok()) return ports;
    for (const std::string& pin : service.expected().spki_sha256()) {
      const bool hex = pin.size() == 64 && std::all_of(pin.begin(), pin.end(), [](char c) {
                         return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
                       });
      if (!hex) {
        return absl::InvalidArgumentError(absl::StrCat(dwhere, ": expected.spki_sha256 \"", pin,
                                                       "\" must be 64 lower-case hex digits"));
      }
    }
    for (const std::string& name : service.expected().names()) {
      if (!IsHostName(absl::StripPrefix(name, "*."))) {
        return absl::InvalidArgumentError(
            absl::StrCat(dwhere, ": expected.names \"", name, "\" is not a DNS name"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Catalogue> ParseCatalogue(absl::string_view text,
                                             absl::string_view source_name) {
  v1::Catalogue catalogue;
  google::protobuf::TextFormat::Parser parser;
  CollectingErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  // Catalogues are hand-written; an unknown field is a typo, not a newer
  // schema, so it is an error.
  if (!parser.ParseFromString(std::string(text.data(), text.size()), &catalogue)) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", errors.Joined()));
  }
  if (absl::Status status = ValidateCatalogue(catalogue); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", status.message()));
  }
  return catalogue;
}

absl::StatusOr<v1::Catalogue> LoadCatalogue(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read catalogue file ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseCatalogue(text.str(), path);
}

absl::StatusOr<v1::Catalogue> SelectRegions(const v1::Catalogue& catalogue,
                                            const std::vector<std::string>& region_ids) {
  std::set<std::string> wanted(region_ids.begin(), region_ids.end());
  v1::Catalogue selected = catalogue;
  selected.clear_regions();
  for (const v1::Region& region : catalogue.regions()) {
    if (wanted.erase(region.id())) *selected.add_regions() = region;
  }
  if (!wanted.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no region \"", *wanted.begin(),
                                                   "\" in catalogue \"", catalogue.name(), "\""));
  }
  return selected;
}

const v1::Relay* FindRelay(const v1::Catalogue& catalogue, absl::string_view relay_id) {
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) {
      if (relay.id() == relay_id) return &relay;
    }
  }
  return nullptr;
}

}  // namespace relayscope
