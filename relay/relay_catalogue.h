// Which addresses a relay of the catalogue serves on: every address of the
// relay on every one of its ports, as relayscope-relay --catalogue --relay
// listens.
#ifndef RELAY_RELAY_CATALOGUE_H_
#define RELAY_RELAY_CATALOGUE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "relayscope/v1/catalogue.pb.h"

namespace relayscope::relay {

// "address:port" for each address x port of `relay_id` (IPv6 literals
// bracketed), addresses in catalogue order, then ports. NOT_FOUND
// ("no relay \"x\" in <source_name>") when the catalogue has no such relay.
absl::StatusOr<std::vector<std::string>> ListenAddressesOf(const v1::Catalogue& catalogue,
                                                           absl::string_view relay_id,
                                                           absl::string_view source_name);

}  // namespace relayscope::relay

#endif  // RELAY_RELAY_CATALOGUE_H_
