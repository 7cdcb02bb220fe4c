// The relay catalogue, loaded from a text-format file and validated.
//
// Every component that names relays uses this: the agent plans its attempts
// from it, the relay serves one of its entries, the collector folds names it
// does not list into "other". A catalogue that loads is known to be valid:
// ids are label-safe and unique, every relay has an address or host and at
// least one valid port.
#ifndef COMMON_CATALOGUE_H_
#define COMMON_CATALOGUE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "relayscope/v1/catalogue.pb.h"

namespace relayscope {

// Parses a catalogue from text format and validates it. Errors are
// INVALID_ARGUMENT and name the source and the offending element, e.g.
// "demo.textproto: regions[1].relays[0]: port 70000 out of range".
absl::StatusOr<v1::Catalogue> ParseCatalogue(absl::string_view text, absl::string_view source_name);

// Reads and parses the file at `path`. NOT_FOUND if it cannot be read.
absl::StatusOr<v1::Catalogue> LoadCatalogue(const std::string& path);

// Checks the invariants listed in catalogue.proto. OK or INVALID_ARGUMENT.
absl::Status ValidateCatalogue(const v1::Catalogue& catalogue);

// The catalogue restricted to `region_ids` (in the catalogue's order).
// INVALID_ARGUMENT naming an id the catalogue does not have.
absl::StatusOr<v1::Catalogue> SelectRegions(const v1::Catalogue& catalogue,
                                            const std::vector<std::string>& region_ids);

// A download service in the shape of a relay (its id, host, addresses and
// ports), for the code that treats both alike: discovery asks PACs and
// bypass lists about it, the verdict judges its routes as a relay's.
inline v1::Relay DownloadAsRelay(const v1::DownloadService& service) {
  v1::Relay relay;
  relay.set_id(service.id());
  relay.set_host(service.host());
  *relay.mutable_addresses() = service.addresses();
  *relay.mutable_ports() = service.ports();
  return relay;
}

// Finds a relay by id; nullptr if the catalogue has none.
const v1::Relay* FindRelay(const v1::Catalogue& catalogue, absl::string_view relay_id);

}  // namespace relayscope

#endif  // COMMON_CATALOGUE_H_
