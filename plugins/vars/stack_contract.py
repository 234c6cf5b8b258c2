# Copyright: taskstack contributors
# Apache-2.0 (see galaxy.yml)
"""Load the stack contract (the repository's top-level group_vars/) at the lowest group precedence."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stack_contract
short_description: Load the stack contract below every inventory's own group_vars
description:
  - Loads the stack contract, the top-level C(group_vars/) of this repository or collection (where Redis is,
    the logins, the logical-database map and how every role's inputs derive from them), as group variables
    of the inventory.
  - The contract is returned for the first inventory source only, and this plugin must be listed before
    C(host_group_vars) in C(vars_plugins_enabled). Both together put the contract just below the inventory's
    own C(group_vars/all/). A value an inventory sets there, in any other group or in C(host_vars/) wins over
    the contract. A top-level C(group_vars/) linked beside the playbooks would instead win over the
    inventory's C(group_vars/all/).
  - Enable it with C(vars_plugins_enabled = stack_contract, host_group_vars) (in the repository, C(ansible.cfg)
    does) or C(taskstack.stack.stack_contract, host_group_vars) when the collection is installed.
options:
  path:
    description: The directory that holds the contract's C(group_vars/). Default is the repository or collection root.
    type: path
    env:
      - name: TASKSTACK_CONTRACT_DIR
    ini:
      - section: taskstack_stack_contract
        key: path
"""

import os

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleParserError
from ansible.inventory.group import InventoryObjectType
from ansible.plugins.vars import BaseVarsPlugin
from ansible.utils.vars import combine_vars

_ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _first_source() -> str | None:
    """The directory of the first inventory source (-i, or the configured inventory), resolved."""
    sources = context.CLIARGS.get("inventory") or C.DEFAULT_HOST_LIST or []
    if isinstance(sources, str):
        sources = [sources]
    for source in sources:
        for piece in str(source).split(","):
            if not piece or not os.path.exists(piece):
                continue  # a host list ("web1,web2"): no path
            path = piece if os.path.isdir(piece) else os.path.dirname(piece)
            return os.path.realpath(path)
    return None


class VarsModule(BaseVarsPlugin):
    # From a plugin path (this repository's ansible.cfg): run only when vars_plugins_enabled names it, so that
    # a run can leave the contract out. From the collection: enabling is required anyway, and ansible-core
    # warns about the attribute there.
    if not __name__.startswith("ansible_collections."):
        REQUIRES_ENABLED = True
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not isinstance(entities, list):
            entities = [entities]
        # Called for every inventory source and every playbook directory: answer for the first inventory
        # source only, so the contract lands at inventory group_vars precedence, once.
        first = _first_source()
        if first is None or os.path.realpath(path) != first:
            return {}
        root = self.get_option("path") or _ROOT
        base = os.path.join(root, "group_vars")
        data = {}
        for entity in entities:
            if getattr(entity, "base_type", None) is not InventoryObjectType.GROUP or not os.path.isdir(base):
                continue
            for found in loader.find_vars_files(base, entity.name):
                new = loader.load_from_file(found, cache="all", unsafe=True, trusted_as_template=True)
                if new:
                    try:
                        data = combine_vars(data, new)
                    except Exception as exc:  # noqa: BLE001 - reported with the file that failed
                        raise AnsibleParserError(f"Could not load the stack contract file {found!r}.") from exc
        return data
