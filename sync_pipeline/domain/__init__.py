"""Pure domain logic: money, periods, identifiers, billing rules. No I/O."""
