// Text with `{{ expression }}` placeholders (rule reasons, action texts),
// checked and compiled once with the rest of the policy and rendered per
// decision.
//
// Thread safety: immutable after Compile(); Render() is const and may run
// concurrently with per-call Frames.
#ifndef TREATD_COMMON_POLICY_ENGINE_TEXT_TEMPLATE_H_
#define TREATD_COMMON_POLICY_ENGINE_TEXT_TEMPLATE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/expr/checker/checker.h"
#include "common/expr/parser/source.h"
#include "common/expr/runtime/program.h"

namespace treatd {

class TextTemplate {
 public:
  TextTemplate() = default;

  // Splits `text` into literal parts and placeholders and checks each
  // placeholder expression (any type) in `env`. On failure returns
  // INVALID_ARGUMENT and appends every error, with byte offsets into
  // `text`, to `errors`.
  static absl::StatusOr<TextTemplate> Compile(
      absl::string_view text, expr::Env& env,
      std::vector<expr::ExprError>* errors);

  bool empty() const { return parts_.empty(); }

  // Renders the text: values in their text form, a failing placeholder as
  // "?" (a reason with one unknown fact is still worth reading).
  std::string Render(expr::Frame& frame) const;
  // Render() appended to `*out`, which keeps its capacity across calls.
  // With `kept`, the placeholders numbered by NumberKeptParts() are taken
  // from (*kept)[number], rendered into it first when it holds nothing:
  // the caller keeps one such vector per set of facts those placeholders
  // read (a core cache entry's).
  void RenderTo(expr::Frame& frame, std::string* out,
                std::vector<std::optional<std::string>>* kept = nullptr) const;

  // Numbers, from `*next` on, the placeholders whose program `keep` says
  // may be rendered once and kept (see RenderTo()); `*next` ends one past
  // the last number given. Placeholders read through field accessors are
  // left out: reading them costs less than the kept copy.
  void NumberKeptParts(const std::function<bool(const expr::Program&)>& keep,
                       int* next);

 private:
  struct Part {
    std::string literal;  // Used when `program` is null.
    std::shared_ptr<const expr::Program> program;
    // When the placeholder is a plain string field of the finding
    // ("{{asset.id}}", most of them): the program's typed accessors and
    // the path length, read directly instead of through the program's
    // evaluation (which gives the same value, at several times the cost).
    const expr::FieldAccessor* accessors = nullptr;
    uint8_t hops = 0;
    // Its number among the kept placeholders (NumberKeptParts()), or -1.
    int kept = -1;
  };
  std::vector<Part> parts_;

  // Appends each part to `*out`.
  void RenderParts(expr::Frame& frame, std::string* out,
                   std::vector<std::optional<std::string>>* kept) const;
};

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_TEXT_TEMPLATE_H_
