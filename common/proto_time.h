// absl::Time / absl::Duration into the proto well-known types, through
// protobuf's own TimeUtil (which normalises signs and ranges), so no
// component splits seconds and nanos by hand.
#ifndef COMMON_PROTO_TIME_H_
#define COMMON_PROTO_TIME_H_

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include "absl/time/time.h"

namespace relayscope {

// Microsecond precision: what every stored and compared timestamp uses.
inline google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

inline google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

// And back. Seconds and nanos are added, not converted through int64
// nanoseconds, so any Timestamp protobuf allows (years 1-9999) fits.
inline absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

inline absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace relayscope

#endif  // COMMON_PROTO_TIME_H_
