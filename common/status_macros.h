// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr.
//
// Debian 12's abseil (20220623) does not ship absl/status/status_macros.h, so
// the project keeps these two here instead of repeating
// `if (!s.ok()) return s;` everywhere.
#ifndef COMMON_STATUS_MACROS_H_
#define COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define RETURN_IF_ERROR(expr)                                                   \
  do {                                                                          \
    if (::absl::Status relayscope_status_ = (expr); !relayscope_status_.ok()) { \
      return relayscope_status_;                                                \
    }                                                                           \
  } while (false)

#define RELAYSCOPE_CONCAT_INNER_(a, b) a##b
#define RELAYSCOPE_CONCAT_(a, b) RELAYSCOPE_CONCAT_INNER_(a, b)

// `ASSIGN_OR_RETURN(auto x, F());` evaluates F() (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `x`.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  RELAYSCOPE_ASSIGN_OR_RETURN_IMPL_(RELAYSCOPE_CONCAT_(relayscope_statusor_, __LINE__), lhs, rexpr)

// `statusor` is a name and `lhs` a declaration ("auto x"): parentheses
// around either would not compile, hence the NOLINT.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define RELAYSCOPE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();      \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // COMMON_STATUS_MACROS_H_
