// Type-checks a parsed expression against an environment (the finding's
// proto schema plus the names a policy defines) and plans it into an
// executable Program in the same pass: names are resolved to field paths or
// slots, enum literals to numbers, regular expressions are compiled.
// Checking and planning share one walk because every check already has the
// resolved operand at hand; a second tree walk would only repeat lookups.
//
// Thread safety: CheckAndPlan() is reentrant (the environment may call it
// again to check a let lazily) but an Env is used by one thread at a time.
#ifndef TREATD_COMMON_EXPR_CHECKER_CHECKER_H_
#define TREATD_COMMON_EXPR_CHECKER_CHECKER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/expr/checker/types.h"
#include "common/expr/parser/ast.h"
#include "common/expr/parser/source.h"
#include "common/expr/runtime/program.h"
#include "google/protobuf/descriptor.h"

namespace treatd::expr {

// What a name outside the finding's fields stands for.
struct Binding {
  enum class Kind { kNow, kSlot };
  Kind kind = Kind::kNow;
  int slot = 0;  // kSlot: the SlotResolver index.
  Type type;     // kError when its definition is broken or cyclic.
};

using MapGetter = const StringMap* (*)(const google::protobuf::Message&);

// The names an expression can use. Implemented by the policy compiler.
class Env {
 public:
  virtual ~Env() = default;
  // The message whose top-level fields are variables (treatd.v1.Finding).
  virtual const google::protobuf::Descriptor* root() const = 0;
  // Resolves `name` ("now", a let name, "tables.ssvc", "risk.inherent").
  // Returns NOT_FOUND when the name means nothing here (the checker then
  // tries finding fields); any other error's message is reported as is.
  virtual absl::StatusOr<Binding> Lookup(absl::string_view name) = 0;
  // True for prefixes such as "tables" and "risk" that only make sense
  // followed by ".NAME".
  virtual bool IsNamespace(absl::string_view name) const = 0;
  // How to read a map field, or null when the field cannot be read (the
  // checker then reports it).
  virtual MapGetter MapGetterFor(
      const google::protobuf::FieldDescriptor* field) const = 0;
  // Typed accessors of `field` for generated message classes, which
  // programs use instead of protobuf Reflection. The default knows none.
  virtual FieldAccessor AccessorFor(
      const google::protobuf::FieldDescriptor* field) const;
};

struct CheckedProgram {
  std::unique_ptr<Program> program;
  Type type;
};

// Parses and checks `source`. When `expected` is set the result must have
// that kind (int is accepted for double). On success returns the program;
// otherwise INVALID_ARGUMENT and every error (with its byte offset in
// `source`) appended to `errors`.
absl::StatusOr<CheckedProgram> CheckAndPlan(absl::string_view source, Env& env,
                                            std::optional<ValueKind> expected,
                                            std::vector<ExprError>* errors);

// Checks an already parsed expression; `source` is its text.
absl::StatusOr<CheckedProgram> CheckAndPlan(const Expr& expr,
                                            absl::string_view source, Env& env,
                                            std::optional<ValueKind> expected,
                                            std::vector<ExprError>* errors);

// Whether `source` checks (against `env`, as above) both under CEL's
// operator precedence and under the grammar treatd parsed before it
// followed CEL (Precedence::kLegacy), and the two parse differently: an
// expression whose meaning that change altered. Text that did not check
// under the old grammar had no meaning to change: false.
bool PrecedenceChangedMeaning(absl::string_view source, Env& env,
                              std::optional<ValueKind> expected);

// The warning to show for such an expression.
inline constexpr absl::string_view kPrecedenceChangedWarning =
    "the meaning of this expression changed: treatd now follows CEL's "
    "operator precedence, where == != < <= > >= and `in` are one level, "
    "applied left to right (before, == and != bound looser than < <= > >=, "
    "and `in` tighter than both); add parentheses to say which you mean";

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_CHECKER_CHECKER_H_
