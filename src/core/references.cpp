#include "core/references.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <utility>

namespace segmentation {
namespace {

// Node ids with their references restricted to nodes, deduplicated.
std::map<std::int64_t, std::vector<std::int64_t>> graph_of(const std::vector<SegmentNode>& nodes) {
    std::map<std::int64_t, std::vector<std::int64_t>> graph;
    for (const SegmentNode& node : nodes) graph[node.id];
    for (const SegmentNode& node : nodes) {
        std::vector<std::int64_t>& edges = graph[node.id];
        for (std::int64_t to : node.references)
            if (graph.count(to) > 0) edges.push_back(to);
        std::sort(edges.begin(), edges.end());
        edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    }
    return graph;
}

// One cycle among `remaining` (nodes none of which could be ordered: each
// reaches a cycle), rotated to start at its smallest id.
std::vector<std::int64_t> find_cycle(const std::map<std::int64_t, std::vector<std::int64_t>>& graph,
                                     const std::set<std::int64_t>& remaining) {
    // Walk references from the smallest remaining id, always to a remaining
    // node, until a node repeats: every remaining node has such a reference.
    std::vector<std::int64_t> walk;
    std::map<std::int64_t, std::size_t> seen;
    std::int64_t at = *remaining.begin();
    while (seen.count(at) == 0) {
        seen[at] = walk.size();
        walk.push_back(at);
        std::int64_t next = at;
        for (std::int64_t to : graph.at(at))
            if (remaining.count(to) > 0) {
                next = to;
                break;
            }
        at = next;
    }
    std::vector<std::int64_t> cycle(walk.begin() + static_cast<std::ptrdiff_t>(seen[at]), walk.end());
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    cycle.push_back(cycle.front());
    return cycle;
}

}  // namespace

std::vector<std::int64_t> topological_order(const std::vector<SegmentNode>& nodes) {
    auto graph = graph_of(nodes);
    std::map<std::int64_t, std::size_t> unresolved;               // references not yet ordered
    std::map<std::int64_t, std::vector<std::int64_t>> referrers;  // who refers to a node
    for (const auto& [id, edges] : graph) {
        unresolved[id] = edges.size();
        for (std::int64_t to : edges) referrers[to].push_back(id);
    }
    std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>> ready;
    for (const auto& [id, count] : unresolved)
        if (count == 0) ready.push(id);
    std::vector<std::int64_t> order;
    while (!ready.empty()) {
        std::int64_t id = ready.top();
        ready.pop();
        order.push_back(id);
        for (std::int64_t referrer : referrers[id])
            if (--unresolved[referrer] == 0) ready.push(referrer);
    }
    if (order.size() == graph.size()) return order;
    std::set<std::int64_t> remaining;
    for (const auto& [id, count] : unresolved)
        if (count > 0) remaining.insert(id);
    throw ReferenceCycle(find_cycle(graph, remaining));
}

std::vector<std::int64_t> dependents_of(const std::vector<SegmentNode>& nodes,
                                        const std::vector<std::int64_t>& segments) {
    std::map<std::int64_t, std::vector<std::int64_t>> referrers;
    for (const SegmentNode& node : nodes)
        for (std::int64_t to : node.references) referrers[to].push_back(node.id);
    std::set<std::int64_t> found;
    std::vector<std::int64_t> pending(segments.begin(), segments.end());
    while (!pending.empty()) {
        std::int64_t id = pending.back();
        pending.pop_back();
        auto it = referrers.find(id);
        if (it == referrers.end()) continue;
        for (std::int64_t referrer : it->second)
            if (found.insert(referrer).second) pending.push_back(referrer);
    }
    return std::vector<std::int64_t>(found.begin(), found.end());
}

}  // namespace segmentation
