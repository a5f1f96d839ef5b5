def test_demo_like_batch_gives_partial_verdict(project):
    project.batch("nightly", """
        [[task]]
        label = "ok"
        command = ["true"]

        [[task]]
        label = "bad"
        command = ["sh", "-c", "exit 3"]
    """)
    result = project.run("run", "nightly", "--json")
    assert result.code == 2, result
    data = result.json()
    assert data["verdict"] == "partial"
    assert {t["label"]: t["outcome"] for t in data["tasks"]} == {"ok": "succeeded", "bad": "failed"}
