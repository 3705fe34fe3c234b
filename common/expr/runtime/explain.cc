// Explanations of a Program's result: why a condition did not hold, one
// conjunct at a time, with the values it compared.
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/expr/runtime/program.h"

namespace treatd::expr {

namespace {

void CollectConjuncts(const Node& node,
                      absl::InlinedVector<const Node*, 8>* out) {
  if (node.op == Op::kAnd) {
    CollectConjuncts(*node.kids[0], out);
    CollectConjuncts(*node.kids[1], out);
  } else {
    out->push_back(&node);
  }
}

// Long lists or messages would drown the sentence; the start is enough.
void AppendShortened(const Value& v, std::string* out) {
  constexpr size_t kMax = 160;
  const size_t start = out->size();
  AppendValue(v, /*quote_strings=*/true, out);
  if (out->size() - start > kMax) {
    out->resize(start + kMax);
    out->append("...");
  }
}

}  // namespace

Value Program::EvaluateAny(const Node& node, Frame& frame) const {
  return node.code_index >= 0 ? Run(node.code_index, frame)
                              : EvaluateNode(node, frame);
}

std::string Program::ExplainNotTrue(Frame& frame) const {
  std::string out;
  ExplainNotTrue(frame, &out);
  return out;
}

void Program::ExplainNotTrue(Frame& frame, std::string* out) const {
  absl::InlinedVector<const Node*, 8> conjuncts;
  CollectConjuncts(*root_, &conjuncts);
  // The first conjunct that is not true is the culprit. Only when there is
  // none (which a root that is not true rules out) is it the whole
  // expression.
  const Node* culprit = nullptr;
  Value culprit_value;
  for (const Node* c : conjuncts) {
    Value v = EvaluateAny(*c, frame);
    if (v.is_error() || !v.bool_value()) {
      culprit = c;
      culprit_value = v;
      break;
    }
  }
  if (culprit == nullptr) {
    culprit = root_.get();
    culprit_value = EvaluateAny(*root_, frame);
  }
  out->clear();
  out->push_back('`');
  const absl::string_view text = Text(*culprit);
  out->append(text.data(), text.size());
  out->push_back('`');
  if (culprit_value.is_error()) {
    absl::StrAppend(out, " failed: ", culprit_value.error());
  } else {
    out->append(" is ");
    AppendValue(culprit_value, /*quote_strings=*/true, out);
  }
  // Operands that are not literals show what the finding held.
  bool first = true;
  const bool is_macro = culprit->op == Op::kExists || culprit->op == Op::kAll ||
                        culprit->op == Op::kExistsOne;
  for (size_t i = 0; i < culprit->kids.size(); ++i) {
    const Node& kid = *culprit->kids[i];
    if (kid.op == Op::kConst || (is_macro && i > 0)) continue;
    Value v = EvaluateAny(kid, frame);
    absl::StrAppend(out, first ? ": " : ", ", Text(kid));
    first = false;
    if (v.is_error()) {
      absl::StrAppend(out, " failed: ", v.error());
    } else {
      out->append(" is ");
      AppendShortened(v, out);
    }
  }
}

}  // namespace treatd::expr
