"""What the user writes: study.yaml (:mod:`.study`), the instrument (:mod:`.instrument`) and the
safe YAML reader with line numbers they share (:mod:`.yamlfile`)."""
