// netsor/program/detail/program_data.hpp — the node table behind a Program (internal).
#pragma once

#include <netsor/program/program.hpp>

#include <string>
#include <unordered_map>
#include <vector>

namespace netsor::detail {

enum class NodeKind : std::uint8_t { Input, Matrix, MatMul, Nonlin, Moment };
enum class MatrixKind : std::uint8_t { Gaussian, Orthogonal, Wigner };

struct DimInfo {
  std::string name;
  Rational ratio;
};

struct Node {
  NodeKind kind;
  std::string name;
  bool auto_named = false;
  std::int32_t dim = -1;  // width of a vector node (Input, MatMul, Nonlin), or of the Moment's argument
  // Input
  std::int32_t family = -1, member = -1;
  // Matrix
  MatrixKind matrix_kind = MatrixKind::Gaussian;
  std::int32_t rows = -1, cols = -1;
  Param variance;
  // MatMul
  std::int32_t matrix = -1, arg = -1;
  bool transposed = false;
  // Nonlin, Moment
  Expr expr;
};

struct InputFamily {
  std::vector<std::int32_t> members;
  std::vector<std::vector<Param>> covariance;
};

struct ProgramData {
  std::uint64_t serial = 0;
  std::vector<DimInfo> dims;
  std::vector<Node> nodes;
  std::vector<InputFamily> families;
  std::unordered_map<std::string, std::int32_t> names;  // node names; dims are stored as -1 - dim id
  std::int32_t auto_counter = 0;

  bool is_vector(std::int32_t id) const {
    const auto k = nodes[id].kind;
    return k == NodeKind::Input || k == NodeKind::MatMul || k == NodeKind::Nonlin;
  }
  std::string width_text(std::int32_t vector_id) const;  // "'h' (width n)"
  std::int32_t add_node(Node n, std::string_view name);
  void rename(std::int32_t id, std::string_view name);
  /// Checks a handle; `what` names the operation for the message.
  void own(const ProgramData* other, std::string_view what, std::string_view handle_name) const;
  /// The single width of an expression's vector leaves (or -1 if none); throws on a mismatch.
  std::int32_t expr_dim(const Expr& e, std::string_view what) const;
  std::string expr_text(const Expr& e) const;
  /// A Dim handle for dim id `d` of this program.
  Dim dim_handle(std::int32_t d);
};

}  // namespace netsor::detail
