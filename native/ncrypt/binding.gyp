{
  "targets": [
    {
      "target_name": "ncrypt",
      "conditions": [
        ["OS=='win'", { "sources": ["ncrypt.c"], "libraries": ["ncrypt.lib"] }]
      ]
    }
  ]
}
