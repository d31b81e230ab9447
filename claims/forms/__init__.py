"""Forms: they validate and clean, never write. ``wizard`` (the wizard's steps), ``answer`` (the answer to an
information request and Disassociate), ``disputes`` (a dispute and protecting an association)."""
