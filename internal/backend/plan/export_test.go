package plan

// Make plans main's commits and the approval branches: Decide, then Render.
func Make(in Input) Plan { return Decide(in).Render() }
