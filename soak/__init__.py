"""The soak run: a mixed workload against xqueue under faults, then invariant checks."""
