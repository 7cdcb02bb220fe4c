// Validation of incoming telemetry before it reaches the store.
//
// Every field is bounded, and region, relay and port values the catalogue
// does not list are folded into "other" (port 0) so that no client can
// create metric label cardinality. A bad attempt is rejected on its own,
// naming the field; the rest of its batch still counts.
//
// Download checks (Attempt.target = TARGET_DOWNLOAD) name a download
// service of the catalogue in `relay`. The store tells them from relay
// attempts by that id alone (it keeps no target), so the two id sets never
// mix: a relay attempt naming a download service is folded into "other"
// like any id that is not a relay, and a download attempt naming anything
// but a download service is rejected (there is no "other" download that
// would not read as a relay). Download-only outcomes on a relay attempt
// are rejected too, so relay metrics and alerts never see them.
#ifndef COLLECTOR_INGEST_VALIDATOR_H_
#define COLLECTOR_INGEST_VALIDATOR_H_

#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/ingest.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::collector {

// The label value unknown regions and relays are folded into.
inline constexpr char kOther[] = "other";

struct ValidationLimits {
  // Attempts older than this (by start time) are refused: they would land
  // in rollups that dashboards already showed as complete.
  absl::Duration max_age = absl::Hours(24 * 7);
  // Allowed clock skew into the future.
  absl::Duration max_future_skew = absl::Minutes(5);
  int max_attempts_per_batch = 1000;
};

class Validator {
 public:
  Validator(const v1::Catalogue& catalogue, ValidationLimits limits = {});

  // Checks the batch envelope: agent identity, session id, batch size,
  // proxies and verdict. INVALID_ARGUMENT naming the field; then the whole
  // batch is refused (nothing in it can be attributed).
  absl::Status ValidateEnvelope(const v1::UploadRequest& request) const;

  // Checks one attempt of a session and normalizes it in place (folding
  // unknown names). Returns the rejection when the attempt is invalid.
  std::optional<v1::RejectedAttempt> ValidateAttempt(const std::string& session_id, absl::Time now,
                                                     v1::Attempt* attempt) const;

 private:
  ValidationLimits limits_;
  std::set<std::string> regions_;
  // relay id -> (region id, ports)
  std::map<std::string, std::pair<std::string, std::set<uint32_t>>> relays_;
  // download service id -> (region id, ports)
  std::map<std::string, std::pair<std::string, std::set<uint32_t>>> downloads_;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_VALIDATOR_H_
