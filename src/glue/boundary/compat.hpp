// The PostgreSQL functions whose signature changed after 15, offered under
// compat:: with their PostgreSQL 15 signature, so the glue reads the same on
// every version. Each branch names the version that made the change; the
// versions tested are 15, 17 and 18 (README, Tests), 16 is kept right by
// reading its headers. Included by glue/boundary/postgres.hpp only.
#pragma once

extern "C" {
#include "access/genam.h"
#include "catalog/dependency.h"
#include "storage/proc.h"
#include "executor/executor.h"
#include "utils/acl.h"
#include "utils/relcache.h"
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_namespace.h"
#include "parser/parse_relation.h"
#endif
}

#if PG_VERSION_NUM < 150000
#error "segmentation needs PostgreSQL 15 or later"
#endif

namespace compat {

SEGMENTATION_PG_CONTEXT inline bool pg_class_ownercheck(Oid relation, Oid role) {
#if PG_VERSION_NUM >= 160000  // PostgreSQL 16 replaced pg_class_ownercheck with object_ownercheck
    return object_ownercheck(RelationRelationId, relation, role);
#else
    return ::pg_class_ownercheck(relation, role);
#endif
}

SEGMENTATION_PG_CONTEXT inline AclResult pg_namespace_aclcheck(Oid schema, Oid role, AclMode mode) {
#if PG_VERSION_NUM >= 160000  // PostgreSQL 16 replaced pg_namespace_aclcheck with object_aclcheck
    return object_aclcheck(NamespaceRelationId, schema, role, mode);
#else
    return ::pg_namespace_aclcheck(schema, role, mode);
#endif
}

// The relations a plan inserts into, updates or deletes from (by the rights
// it asks for), as an OID list.
SEGMENTATION_PG_CONTEXT inline List* written_relations(PlannedStmt* plan) {
    constexpr AclMode kWrites = ACL_INSERT | ACL_UPDATE | ACL_DELETE;
    List* written = NIL;
    ListCell* cell;
#if PG_VERSION_NUM >= 160000  // PostgreSQL 16 moved permissions from RangeTblEntry to RTEPermissionInfo
    foreach (cell, plan->permInfos) {
        RTEPermissionInfo* permission = static_cast<RTEPermissionInfo*>(lfirst(cell));
        if ((permission->requiredPerms & kWrites) != 0) written = lappend_oid(written, permission->relid);
    }
#else
    foreach (cell, plan->rtable) {
        RangeTblEntry* entry = static_cast<RangeTblEntry*>(lfirst(cell));
        if (entry->rtekind == RTE_RELATION && (entry->requiredPerms & kWrites) != 0)
            written = lappend_oid(written, entry->relid);
    }
#endif
    return written;
}

SEGMENTATION_PG_CONTEXT inline Oid getIdentitySequence(Oid relation, AttrNumber column, bool missing_ok) {
#if PG_VERSION_NUM >= 170000  // PostgreSQL 17 takes the Relation (a partition's sequence is its parent's)
    Relation opened = relation_open(relation, AccessShareLock);
    Oid sequence = ::getIdentitySequence(opened, column, missing_ok);
    relation_close(opened, AccessShareLock);
    return sequence;
#else
    return ::getIdentitySequence(relation, column, missing_ok);
#endif
}

// This backend's local transaction id (with statement start and command id,
// it names one statement of one transaction).
SEGMENTATION_PG_CONTEXT inline LocalTransactionId my_local_transaction_id() {
#if PG_VERSION_NUM >= 170000  // PostgreSQL 17 moved it into PGPROC's vxid
    return MyProc->vxid.lxid;
#else
    return MyProc->lxid;
#endif
}

// The executor checks nothing against the permission entries here (the
// caller does its own checks), but from 16 it looks up each result
// relation's entry, e.g. for its updated columns, so every range table
// entry gets one; from 18 it also wants the entries not pruned: all of them.
SEGMENTATION_PG_CONTEXT inline void ExecInitRangeTable(EState* estate, List* range_table) {
#if PG_VERSION_NUM >= 160000  // PostgreSQL 16 moved permissions from RangeTblEntry to RTEPermissionInfo
    List* permissions = NIL;
    ListCell* cell;
    foreach (cell, range_table) addRTEPermissionInfo(&permissions, static_cast<RangeTblEntry*>(lfirst(cell)));
#if PG_VERSION_NUM >= 180000  // PostgreSQL 18 added the relids left after pruning
    ::ExecInitRangeTable(estate, range_table, permissions, bms_add_range(nullptr, 1, list_length(range_table)));
#else
    ::ExecInitRangeTable(estate, range_table, permissions);
#endif
#else
    ::ExecInitRangeTable(estate, range_table);
#endif
}

SEGMENTATION_PG_CONTEXT inline void EvalPlanQualInit(EPQState* epq, EState* parent, Plan* subplan, List* aux_row_marks,
                                                     int epq_param) {
#if PG_VERSION_NUM >= 160000  // PostgreSQL 16 added the result relations (for MERGE)
    ::EvalPlanQualInit(epq, parent, subplan, aux_row_marks, epq_param, NIL);
#else
    ::EvalPlanQualInit(epq, parent, subplan, aux_row_marks, epq_param);
#endif
}

SEGMENTATION_PG_CONTEXT inline Oid RelationGetPrimaryKeyIndex(Relation relation) {
#if PG_VERSION_NUM >= 180000  // PostgreSQL 18 can return a deferrable primary key, if asked to
    return ::RelationGetPrimaryKeyIndex(relation, false);
#else
    return ::RelationGetPrimaryKeyIndex(relation);
#endif
}

SEGMENTATION_PG_CONTEXT inline IndexScanDesc index_beginscan(Relation heap, Relation index, Snapshot snapshot, int keys,
                                                             int order_bys) {
#if PG_VERSION_NUM >= 180000  // PostgreSQL 18 added instrumentation for EXPLAIN ANALYZE
    return ::index_beginscan(heap, index, snapshot, nullptr, keys, order_bys);
#else
    return ::index_beginscan(heap, index, snapshot, keys, order_bys);
#endif
}

}  // namespace compat
